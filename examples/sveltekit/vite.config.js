import { sveltekit } from '@sveltejs/kit/vite';

export default {
  plugins: [sveltekit()],
  // sessionkit is loaded by Node itself, as any server dependency: its stores use Node drivers.
  ssr: { external: ['sessionkit'] },
};
