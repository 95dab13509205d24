// sessionkit is loaded by Node itself (not bundled): its stores use Node database drivers.
export default {
  serverExternalPackages: ['sessionkit'],
  agentRules: false,
  experimental: { agentUpgrade: false },
};
