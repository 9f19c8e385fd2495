/**
 * ONNX Runtime's Node binding phones home (telemetry DNS look-ups and a cache under ~/.cache/Microsoft) unless told
 * not to. A privacy product must not: this module is imported before onnxruntime-node so the variable is set before
 * the native library loads. The systemd units set it too.
 */
process.env.ORT_DISABLE_TELEMETRY ||= '1';
export {};
