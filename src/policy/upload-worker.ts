// Worker thread entry: runs checkBundleUpload on an uploaded bundle off the server's event loop, so a
// module that never returns (a hand-made WASM loop) is stopped by the caller's time limit instead of
// freezing every request.
import { parentPort, workerData } from 'node:worker_threads';
import { BundleRejection } from './bundle-rejection.js';
import { type BundleCheckOptions, checkBundleUpload } from './upload-check.js';

const { bytes, options } = workerData as { bytes: Uint8Array; options: BundleCheckOptions };

checkBundleUpload(bytes, options).then(
  (checked) => {
    const { revision, sha256, size_bytes, entrypoints } = checked;
    parentPort?.postMessage({ ok: true, revision, sha256, size_bytes, entrypoints });
  },
  (err: unknown) => {
    if (err instanceof BundleRejection) {
      parentPort?.postMessage({ ok: false, problem: err.problem, detail: err.detail });
    } else {
      parentPort?.postMessage({
        ok: false,
        problem: 'wasm_invalid',
        detail: err instanceof Error ? err.message : String(err),
      });
    }
  },
);
