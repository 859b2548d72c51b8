/* cnnzoo report --live: the exported network, fp32 and int8, running in this page.
 *
 * The page's JSON (#live-config, written by cnnzoo.report.live.page_config) says what the network
 * takes and how an image becomes its input; the scripts loaded before this one hold the runtime
 * (ONNX Runtime's WebAssembly build) and the two ONNX files. Nothing is fetched.
 *
 * An image, wherever it comes from (the drawing, a file, a camera frame), is RGBA pixels; it is
 * preprocessed exactly as cnnzoo.data.image_transform does in Python: Pillow's integer grey
 * conversion and 8-bit bilinear resize to the dataset's side, x / 255, (x - mean) / std, then
 * torch's antialiased bilinear resize to the network's side where that differs.
 *
 * window.cnnzooLive is the page's state, read by the tests: `ready`, `error`, `queued` (images
 * waiting or running), `results` (one entry per image classified: its name and each
 * precision's logits and milliseconds) and `maps` (the last image's feature maps, by layer).
 */
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("live-config").textContent);
  const precisions = Object.keys(config.precisions);
  const WINDOW = 30; // frames in the latency median
  const state = { ready: false, error: null, results: [], frames: 0, agree: 0, queued: 0 };
  const latency = Object.fromEntries(precisions.map((p) => [p, []]));
  window.cnnzooLive = state;

  const $ = (id) => document.getElementById(id);

  function say(text) {
    $("live-status").textContent = text;
  }

  function bytesOf(base64) {
    const text = atob(base64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  async function loadRuntime() {
    const url = URL.createObjectURL(new Blob([window.cnnzooOrtModule], { type: "text/javascript" }));
    try {
      const ort = await import(url);
      ort.env.wasm.wasmBinary = bytesOf(window.cnnzooOrtWasm);
      ort.env.wasm.numThreads = 1;
      return ort;
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  // ------------------------------------------------------------------ preprocessing

  // Pillow's "L" conversion: ITU-R 601-2 luma in 16-bit fixed point, rounded.
  function planes(rgba, width, height, mode) {
    const n = width * height;
    if (mode === "L") {
      const grey = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
        grey[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
      }
      return [grey];
    }
    return [0, 1, 2].map((c) => {
      const plane = new Uint8Array(n);
      for (let i = 0; i < n; i++) plane[i] = rgba[4 * i + c];
      return plane;
    });
  }

  const triangle = (x) => Math.max(0, 1 - Math.abs(x));

  // The taps of a bilinear (triangle) filter resizing `inSize` samples to `outSize`, widened by
  // the scale when shrinking (antialiasing): Pillow's and torch's rule. For each output sample,
  // its first input sample and normalised weights.
  function taps(inSize, outSize) {
    const scale = inSize / outSize;
    const widen = Math.max(scale, 1);
    const support = widen; // the triangle's support is 1
    const inverse = 1 / widen;
    const out = [];
    for (let i = 0; i < outSize; i++) {
      const centre = (i + 0.5) * scale;
      const first = Math.max(Math.trunc(centre - support + 0.5), 0);
      const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
      const weights = [];
      let total = 0;
      for (let j = first; j < last; j++) {
        const w = triangle((j - centre + 0.5) * inverse);
        weights.push(w);
        total += w;
      }
      out.push({ first, weights: weights.map((w) => (total ? w / total : 0)) });
    }
    return out;
  }

  // Pillow's 8-bit resampling: weights in fixed point with 22 fractional bits, rounded; each
  // pass rounds and clips to 0..255; horizontal pass first.
  const BITS = 22;
  function fixedTaps(inSize, outSize) {
    return taps(inSize, outSize).map(({ first, weights }) => ({
      first,
      weights: weights.map((w) => Math.trunc(w < 0 ? -0.5 + w * 2 ** BITS : 0.5 + w * 2 ** BITS)),
    }));
  }
  function clip8(sum) {
    if (sum >= 2 ** (BITS + 8)) return 255;
    if (sum <= 0) return 0;
    return Math.floor(sum / 2 ** BITS);
  }
  function pillowResize(plane, width, height, outW, outH) {
    let src = plane, w = width;
    if (outW !== width) {
      const t = fixedTaps(width, outW);
      const dst = new Uint8Array(outW * height);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < outW; x++) {
          let sum = 2 ** (BITS - 1);
          const { first, weights } = t[x];
          for (let k = 0; k < weights.length; k++) sum += src[y * w + first + k] * weights[k];
          dst[y * outW + x] = clip8(sum);
        }
      }
      src = dst;
      w = outW;
    }
    if (outH !== height) {
      const t = fixedTaps(height, outH);
      const dst = new Uint8Array(w * outH);
      for (let y = 0; y < outH; y++) {
        const { first, weights } = t[y];
        for (let x = 0; x < w; x++) {
          let sum = 2 ** (BITS - 1);
          for (let k = 0; k < weights.length; k++) sum += src[(first + k) * w + x] * weights[k];
          dst[y * w + x] = clip8(sum);
        }
      }
      src = dst;
    }
    return src;
  }

  // torch's antialiased bilinear resize of a float plane (the same taps, in floating point).
  function floatResize(plane, side, outSide) {
    const t = taps(side, outSide);
    const rows = new Float32Array(outSide * side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < outSide; x++) {
        let sum = 0;
        const { first, weights } = t[x];
        for (let k = 0; k < weights.length; k++) sum += plane[y * side + first + k] * weights[k];
        rows[y * outSide + x] = sum;
      }
    }
    const out = new Float32Array(outSide * outSide);
    for (let y = 0; y < outSide; y++) {
      const { first, weights } = t[y];
      for (let x = 0; x < outSide; x++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += rows[(first + k) * outSide + x] * weights[k];
        out[y * outSide + x] = sum;
      }
    }
    return out;
  }

  // RGBA pixels -> the network's input, C x size x size float32 (see the header).
  function preprocess(rgba, width, height) {
    const p = config.preprocess;
    const native = p.native, size = p.size;
    const out = new Float32Array(p.mean.length * size * size);
    planes(rgba, width, height, p.mode).forEach((plane, c) => {
      const small = pillowResize(plane, width, height, native, native);
      let values = new Float32Array(native * native);
      const mean = Math.fround(p.mean[c]), std = Math.fround(p.std[c]);
      for (let i = 0; i < values.length; i++) {
        values[i] = Math.fround(Math.fround(small[i] / 255) - mean) / std;
      }
      if (size !== native) values = floatResize(values, native, size);
      out.set(values, c * size * size);
    });
    return out;
  }

  // ------------------------------------------------------------------ inference and display

  function softmax(logits) {
    const top = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - top));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  }

  const argmax = (values) => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);

  function median(values) {
    const s = [...values].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }

  function showInput(input) {
    const canvas = $("live-input"), size = config.preprocess.size;
    const channels = config.preprocess.mean.length;
    canvas.width = size;
    canvas.height = size;
    const context = canvas.getContext("2d");
    const image = context.createImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      for (let c = 0; c < 3; c++) {
        const k = channels === 1 ? 0 : c;
        const v = input[k * size * size + i] * config.preprocess.std[k] + config.preprocess.mean[k];
        image.data[4 * i + c] = Math.round(Math.min(Math.max(v, 0), 1) * 255);
      }
      image.data[4 * i + 3] = 255;
    }
    context.putImageData(image, 0, 0);
  }

  function showTop5(precision, logits) {
    const probs = softmax(logits);
    const order = probs.map((p, i) => i).sort((a, b) => probs[b] - probs[a]).slice(0, 5);
    const body = $(`live-top5-${precision}`);
    body.replaceChildren(
      ...order.map((i) => {
        const row = document.createElement("tr");
        const name = document.createElement("td");
        name.className = "text";
        name.textContent = config.classes[i] ?? String(i);
        const bar = document.createElement("td");
        bar.className = "text";
        const fill = document.createElement("span");
        fill.className = "bar";
        fill.style.width = `${(probs[i] * 100).toFixed(1)}%`;
        bar.append(fill);
        const value = document.createElement("td");
        value.textContent = `${(probs[i] * 100).toFixed(1)} %`;
        row.append(name, bar, value);
        return row;
      }),
    );
  }

  // The fp32 file's feature maps: the first channels of each, each scaled to its own range.
  const CHANNELS = 8;
  function showMaps(result) {
    state.maps = Object.fromEntries(config.maps.map((m) => [m.name, result[m.output].data]));
    const holder = $("live-maps");
    if (!holder) return;
    holder.replaceChildren(
      ...config.maps.map((map) => {
        const [channels, height, width] = map.shape;
        const data = result[map.output].data;
        const figure = document.createElement("figure");
        const caption = document.createElement("figcaption");
        const shown = Math.min(CHANNELS, channels);
        caption.textContent = `${map.name}: ${shown} of ${channels} channels, ${height} x ${width}`;
        const row = document.createElement("div");
        row.className = "maps";
        for (let c = 0; c < shown; c++) {
          const plane = data.subarray(c * height * width, (c + 1) * height * width);
          let low = Infinity, high = -Infinity;
          for (const v of plane) {
            low = Math.min(low, v);
            high = Math.max(high, v);
          }
          const canvas = document.createElement("canvas");
          canvas.width = width;
          canvas.height = height;
          const context = canvas.getContext("2d");
          const image = context.createImageData(width, height);
          for (let i = 0; i < plane.length; i++) {
            const v = high > low ? Math.round((255 * (plane[i] - low)) / (high - low)) : 0;
            image.data.set([v, v, v, 255], 4 * i);
          }
          context.putImageData(image, 0, 0);
          row.append(canvas);
        }
        figure.append(row, caption);
        return figure;
      }),
    );
  }

  function showLatency() {
    for (const p of precisions) {
      const samples = latency[p];
      $(`live-ms-${p}`).textContent = samples.length
        ? `${median(samples).toFixed(2)} ms (median of the last ${samples.length})`
        : "-";
    }
    $("live-agree").textContent = `${state.agree} of ${state.frames}`;
  }

  function showFile(name, outputs) {
    const row = document.createElement("tr");
    const cells = [name];
    for (const p of precisions) {
      const probs = softmax(outputs[p].logits);
      const k = argmax(probs);
      cells.push(`${config.classes[k] ?? k} (${(probs[k] * 100).toFixed(1)} %)`);
    }
    const same = precisions.every(
      (p) => argmax(outputs[p].logits) === argmax(outputs[precisions[0]].logits),
    );
    cells.push(same ? "yes" : "no");
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.className = "text";
      cell.textContent = text;
      row.append(cell);
    }
    $("live-files").append(row);
  }

  let sessions = null;
  let running = Promise.resolve();

  // Classify one image (RGBA pixels); frames queue behind each other, never overlap.
  function classify(rgba, width, height, name) {
    state.queued += 1;
    running = running.then(async () => {
      const input = preprocess(rgba, width, height);
      const shape = [1, ...config.input];
      const outputs = {};
      const feed = () => ({ [config.input_name]: new sessions.ort.Tensor("float32", input, shape) });
      for (const p of precisions) {
        // Timed: the logits alone, as cnnzoo bench times the file without extra outputs.
        const start = performance.now();
        const result = await sessions[p].run(feed(), [config.output_name]);
        const ms = performance.now() - start;
        outputs[p] = { logits: Array.from(result[config.output_name].data), ms };
        latency[p].push(ms);
        if (latency[p].length > WINDOW) latency[p].shift();
      }
      if (config.maps.length) {
        showMaps(await sessions.fp32.run(feed(), config.maps.map((m) => m.output)));
      }
      state.frames += 1;
      const first = argmax(outputs[precisions[0]].logits);
      if (precisions.every((p) => argmax(outputs[p].logits) === first)) state.agree += 1;
      state.results.push({ name, ...outputs });
      showInput(input);
      for (const p of precisions) showTop5(p, outputs[p].logits);
      showLatency();
      return outputs;
    });
    running.finally(() => {
      state.queued -= 1;
    });
    return running;
  }

  // ------------------------------------------------------------------ the three inputs

  function pixelsOf(canvas) {
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return context.getImageData(0, 0, canvas.width, canvas.height).data;
  }

  function setUpDrawing() {
    const canvas = $("live-draw");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    const clear = () => {
      context.fillStyle = "#000";
      context.fillRect(0, 0, canvas.width, canvas.height);
    };
    clear();
    let last = null, pending = false, again = false;
    const point = (event) => {
      const box = canvas.getBoundingClientRect();
      return [
        ((event.clientX - box.left) * canvas.width) / box.width,
        ((event.clientY - box.top) * canvas.height) / box.height,
      ];
    };
    // One frame at a time; strokes drawn meanwhile get one more frame when it ends.
    const run = () => {
      if (pending) {
        again = true;
        return;
      }
      pending = true;
      classify(pixelsOf(canvas), canvas.width, canvas.height, "drawing").finally(() => {
        pending = false;
        if (again) {
          again = false;
          run();
        }
      });
    };
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      last = point(event);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!last) return;
      const next = point(event);
      context.strokeStyle = "#fff";
      context.lineWidth = canvas.width / 14;
      context.lineCap = "round";
      context.beginPath();
      context.moveTo(...last);
      context.lineTo(...next);
      context.stroke();
      last = next;
      run();
    });
    const end = () => {
      if (last) run();
      last = null;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    $("live-clear").addEventListener("click", clear);
  }

  async function decode(file) {
    try {
      return await createImageBitmap(file, {
        colorSpaceConversion: "none",
        premultiplyAlpha: "none",
      });
    } catch {
      return null;
    }
  }

  function setUpUpload() {
    $("live-upload").addEventListener("change", async (event) => {
      const bad = [];
      for (const file of Array.from(event.target.files)) {
        const bitmap = await decode(file);
        if (!bitmap) {
          bad.push(file.name);
          continue;
        }
        const canvas = document.createElement("canvas");
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
        canvas.getContext("2d", { willReadFrequently: true }).drawImage(bitmap, 0, 0);
        const outputs = await classify(pixelsOf(canvas), canvas.width, canvas.height, file.name);
        showFile(file.name, outputs);
      }
      say(bad.length ? `not an image this browser can read: ${bad.join(", ")}` : "ready");
      event.target.value = "";
    });
  }

  function setUpCamera() {
    const button = $("live-camera");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      button.disabled = true;
      button.title = "this browser gives no camera to a page opened like this one";
      return;
    }
    let stream = null;
    button.addEventListener("click", async () => {
      if (stream) {
        stream.getTracks().forEach((t) => t.stop());
        stream = null;
        $("live-video").hidden = true;
        button.textContent = "Start the camera";
        return;
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      } catch (err) {
        say(`no camera: ${err.message || err.name}`);
        return;
      }
      button.textContent = "Stop the camera";
      const video = $("live-video");
      video.hidden = false;
      video.srcObject = stream;
      await video.play();
      const frame = document.createElement("canvas");
      const loop = async () => {
        if (!stream) return;
        const side = Math.min(video.videoWidth, video.videoHeight);
        if (side > 0) {
          frame.width = frame.height = side; // the centre square of the frame
          const x = (video.videoWidth - side) / 2, y = (video.videoHeight - side) / 2;
          frame.getContext("2d", { willReadFrequently: true }).drawImage(video, x, y, side, side, 0, 0, side, side);
          await classify(pixelsOf(frame), side, side, "camera");
        }
        requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
    });
  }

  async function start() {
    try {
      say("loading the runtime and the networks ...");
      const ort = await loadRuntime();
      sessions = { ort };
      for (const p of precisions) {
        const bytes = bytesOf(window[config.precisions[p].variable]);
        sessions[p] = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
      }
      setUpDrawing();
      setUpUpload();
      setUpCamera();
      state.ready = true;
      say("ready: draw, choose image files or start the camera");
    } catch (err) {
      state.error = String(err && err.message ? err.message : err);
      say(`the network could not start: ${state.error}`);
    }
  }

  start();
})();
