'use strict';
/**
 * enginev2d-client: the host Node server's side of enginev2d's SQL/NOTIFY contract.
 *
 *   const { createEngineV2 } = require('enginev2d-client');
 *   const engineV2 = createEngineV2({ connectionString: process.env.DATABASE_URL });
 *
 * and the design's section 5 routing branch runs on `engineV2` unchanged.
 * @module enginev2d-client
 */

const { createEngineV2, DEFAULT_DEADLINE_MS } = require('./lib/engine.cjs');
const { CODES, SQLSTATES, EngineV2Error, fallbackCode } = require('./lib/errors.cjs');
const { validateOutput, toV1Response, isChat } = require('./lib/fallback.cjs');
const { flagsFromEnv, shouldUseV2 } = require('./lib/featureFlag.cjs');
const { UI_EVENTS } = require('./lib/progress.cjs');

module.exports = {
  createEngineV2,
  EngineV2Error,
  CODES,
  SQLSTATES,
  UI_EVENTS,
  DEFAULT_DEADLINE_MS,
  validateOutput,
  toV1Response,
  isChat,
  fallbackCode,
  /** Design 4 on an explicit environment: `shouldUseV2FromEnv(process.env, user)`. */
  shouldUseV2FromEnv: (env, verifiedUser) => shouldUseV2(flagsFromEnv(env), verifiedUser),
};
