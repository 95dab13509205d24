// No adapter: `npm run example:sveltekit` runs the dev server. Add @sveltejs/adapter-node to deploy.
export default { kit: {} };
