// ES module entry: the same implementation as the CommonJS one (one class identity for
// EngineV2Error whichever way the package is loaded).
import cjs from './index.cjs';

export const {
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
  shouldUseV2FromEnv,
} = cjs;
export default cjs;
