'use strict';
/**
 * Design section 4: the flag + allowlist double gate, from the same environment variables
 * as the daemon (README "Configuration"). `verifiedUser` must come from the JWT only.
 * @module enginev2d-client/featureFlag
 */

/**
 * @param {Record<string, string|undefined>} env
 * @returns {{enabled: boolean, allowlistOnly: boolean, allowlist: Set<string>}}
 */
function flagsFromEnv(env) {
  return {
    enabled: env.ENGINE_V2_ENABLED === 'true',
    allowlistOnly: env.ENGINE_V2_ALLOWLIST_ONLY !== 'false',
    allowlist: new Set((env.ENGINE_V2_ALLOWLIST || '').split(',').filter(Boolean)),
  };
}

/**
 * @param {{enabled: boolean, allowlistOnly: boolean, allowlist: Set<string>}} flags
 * @param {{id?: string, email?: string} | null | undefined} verifiedUser
 * @returns {boolean}
 */
function shouldUseV2(flags, verifiedUser) {
  if (!flags.enabled) return false;
  if (!flags.allowlistOnly) return true;
  if (!verifiedUser) return false;
  return flags.allowlist.has(verifiedUser.id) || flags.allowlist.has(verifiedUser.email);
}

module.exports = { flagsFromEnv, shouldUseV2 };
