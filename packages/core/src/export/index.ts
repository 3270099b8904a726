// Hand-off of trained encoders to other frameworks. Node only (it writes files): not in the browser entry.
export { exportEncoder, ENCODER_EXPORT_FORMATS, EXPORT_FILES } from './export-encoder';
export type { EncoderExportFormat, EncoderExportManifest, EncoderExportOptions, EncoderExportResult } from './export-encoder';
export { pytorchStateDict, hwioToOihw, transposeMatrix, PYTORCH_EXPORT_KINDS } from './pytorch-state-dict';
export type { PyTorchArchitecture, PyTorchStateDict, PyTorchTensor } from './pytorch-state-dict';
export { pytorchModuleSource } from './pytorch-module';
export { serializeSafetensors, parseSafetensors } from '../train/safetensors';
export type { ParsedSafetensor, SafetensorsDtype, SafetensorsEntry } from '../train/safetensors';
