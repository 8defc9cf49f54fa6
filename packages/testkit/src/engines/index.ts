export { ensureBuilt } from './build.js'
export {
  EngineCluster,
  EngineProcess,
  type EngineProcessOptions,
  type EngineStats,
} from './engine-process.js'
export type {
  EngineEventMessage,
  ItemInput,
  ItemView,
  LoadReport,
  LoadSpec,
  SubmitOptionsInput,
} from './protocol.js'
