// ort-run.js: runs an exported CutPaste ONNX model in ONNX Runtime for
// Node.js and prints its outputs as JSON on stdout.
//
//   node ort-run.js MODEL.onnx IMAGES.f32 N SIZE
//
// IMAGES.f32 holds N normalised images (N, 3, SIZE, SIZE) as little-endian
// float32.  The whole batch runs once, and the first image once more on
// its own to check that the batch dimension is really dynamic.
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

async function main () {
  const [modelPath, imagesPath, nArg, sizeArg] = process.argv.slice(2);
  const n = parseInt(nArg, 10);
  const size = parseInt(sizeArg, 10);
  const bytes = fs.readFileSync(imagesPath);
  const perImage = 3 * size * size;
  if (bytes.length !== n * perImage * 4) {
    throw new Error(`${imagesPath}: ${bytes.length} bytes, expected ${n * perImage * 4}`);
  }
  const images = new Float32Array(n * perImage);
  for (let i = 0; i < images.length; i++) {
    images[i] = bytes.readFloatLE(4 * i);
  }

  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const run = async (count) => {
    const feeds = {
      image: new ort.Tensor('float32', images.subarray(0, count * perImage), [count, 3, size, size]),
    };
    const out = await session.run(feeds);
    const result = {};
    for (const name of ['embedding', 'logits', 'score']) {
      result[name] = { dims: out[name].dims, data: Array.from(out[name].data) };
    }
    return result;
  };

  const batch = await run(n);
  const single = await run(1);
  process.stdout.write(JSON.stringify({
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    batch,
    single,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort-run.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
