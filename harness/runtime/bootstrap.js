// The worker process of one Node.js Lambda execution environment: bootstrap.py's protocol, for
// functions whose Runtime is nodejsNN.x (run with the machine's `node`).
//
// Started by the runtime server (harness/runtime/worker.py) with the function's environment
// (_HANDLER, LAMBDA_TASK_ROOT, HARNESS_RUNTIME_PATH...). It loads the handler module once (the
// init phase), then serves invocations one at a time, keeping module state warm between them.
//
// Wire protocol, the same as bootstrap.py's: stdin carries requests, stdout responses; every
// frame is a big-endian uint32 header length, a uint32 body length, the JSON header, the body.
// After init the worker sends {"type": "ready", "init_ms", "error", "logs"}; each answer is
// {"error", "ms", "rss", "logs", "cid"?, "fatal"?} and the result or error JSON as the body.
// Nothing a handler prints reaches stdout: console.* and process.stdout/stderr writes are
// captured per invocation as Lambda's Node.js log lines (time, request id, level, message).
//
// Errors as the Node.js runtime reports them: {"errorType", "errorMessage", "trace"};
// Runtime.ImportModuleError, Runtime.HandlerNotFound, Runtime.UserCodeSyntaxError,
// Runtime.MalformedHandlerName at init. Memory: the resident set is sampled every 50 ms while a
// handler runs and the peak checked after it; over MemorySize the worker answers
// Runtime.OutOfMemory and exits 137 (the server replaces the environment). Timeouts, reserved
// concurrency and throttles are the server's, as for Python.
//
// Faults (harness/chaos/lambda_faults.py): delay, timeout (never answers), exception/error,
// statuscode, preventExecution. denylist and diskspace are not applied here; the invocation
// logs a warning saying so.
"use strict";

const fs = require("fs");
const path = require("path");
const util = require("util");
const Module = require("module");
const { pathToFileURL } = require("url");

const OUT_FD = 1;
const OOM_EXIT_CODE = 137;
const memoryLimitKb = parseInt(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || "128", 10) * 1024;

// -- module path: the task root, the function's dependencies, /opt layers --------------------
const extra = (process.env.HARNESS_RUNTIME_PATH || "").split(path.delimiter).filter(Boolean);
const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
process.env.NODE_PATH = [...extra, taskRoot].join(path.delimiter);
Module._initPaths();

// -- capture ---------------------------------------------------------------------------------
let logs = [];
let requestId = "";
let trace = { trace: "", parent: null }; // this invocation's _X_AMZN_TRACE_ID and its caller's span
const realStdoutWrite = process.stdout.write.bind(process.stdout);
const realStderrWrite = process.stderr.write.bind(process.stderr);

function logLine(level, args) {
  const message = util.format(...args);
  const stamp = new Date().toISOString();
  logs.push(["log", level, `${stamp}\t${requestId || "undefined"}\t${level}\t${message}`]);
}

console.log = (...args) => logLine("INFO", args);
console.info = (...args) => logLine("INFO", args);
console.warn = (...args) => logLine("WARN", args);
console.error = (...args) => logLine("ERROR", args);
console.debug = (...args) => logLine("DEBUG", args);
console.trace = (...args) => logLine("TRACE", args);

function captureStream(name) {
  let partial = "";
  return (chunk, encoding, callback) => {
    const text = partial + (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
    const lines = text.split("\n");
    partial = lines.pop();
    for (const line of lines) logs.push([name, "", line]);
    if (typeof encoding === "function") encoding();
    else if (typeof callback === "function") callback();
    return true;
  };
}
process.stdout.write = captureStream("stdout");
process.stderr.write = captureStream("stderr");

// -- framing ---------------------------------------------------------------------------------
function writeFrame(header, body) {
  const raw = Buffer.from(JSON.stringify(header));
  const payload = body || Buffer.alloc(0);
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(raw.length, 0);
  prefix.writeUInt32BE(payload.length, 4);
  const data = Buffer.concat([prefix, raw, payload]);
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(OUT_FD, data, offset);
    } catch (err) {
      if (err.code !== "EAGAIN") throw err;
    }
  }
}

function errorPayload(type, message, trace) {
  return { errorType: type, errorMessage: message, trace: trace || [] };
}

function fromError(err) {
  if (err instanceof Error) {
    const trace = (err.stack || "").split("\n");
    return errorPayload(err.name || "Error", err.message, trace);
  }
  return errorPayload("Error", String(err), []);
}

function rssKb() {
  return Math.round(process.memoryUsage.rss() / 1024);
}

function peakRssKb() {
  return process.resourceUsage().maxRSS; // kilobytes
}

// -- init ------------------------------------------------------------------------------------
let handler = null;
let initError = null;

function findModule(base) {
  for (const ext of [".js", ".mjs", ".cjs"]) {
    if (fs.existsSync(base + ext)) return base + ext;
  }
  return null;
}

function isEsm(file) {
  if (file.endsWith(".mjs")) return true;
  if (file.endsWith(".cjs")) return false;
  let dir = path.dirname(file);
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      try {
        return JSON.parse(fs.readFileSync(pkg, "utf8")).type === "module";
      } catch (err) {
        return false;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

async function init() {
  const spec = (process.env._HANDLER || "").trim();
  const dot = spec.lastIndexOf(".");
  if (dot <= 0 || dot === spec.length - 1) {
    initError = errorPayload("Runtime.MalformedHandlerName", `Bad handler ${spec}`);
    return;
  }
  const moduleName = spec.slice(0, dot);
  const functionPath = spec.slice(dot + 1).split(".");
  const file = findModule(path.resolve(taskRoot, moduleName));
  if (file === null) {
    initError = errorPayload(
      "Runtime.ImportModuleError",
      `Error: Cannot find module '${moduleName}'\nRequire stack:\n- ${__filename}`,
    );
    return;
  }
  let loaded;
  try {
    loaded = isEsm(file) ? await import(pathToFileURL(file).href) : require(file);
  } catch (err) {
    const kind = err instanceof SyntaxError ? "Runtime.UserCodeSyntaxError" : "Runtime.ImportModuleError";
    initError = errorPayload(kind, `${err.name}: ${err.message}`, (err.stack || "").split("\n"));
    logLine("ERROR", [`Uncaught Exception ${JSON.stringify(initError)}`]);
    return;
  }
  let target = loaded;
  for (const part of functionPath) target = target == null ? undefined : target[part];
  if (typeof target !== "function" && loaded && loaded.default) {
    target = loaded.default;
    for (const part of functionPath) target = target == null ? undefined : target[part];
  }
  if (typeof target !== "function") {
    initError = errorPayload(
      "Runtime.HandlerNotFound",
      `${moduleName}.${functionPath.join(".")} is undefined or not exported`,
    );
    return;
  }
  handler = target;
}

// -- invoke ----------------------------------------------------------------------------------
// The X-Ray header this invocation continues, where Lambda finds it (bootstrap.py caller_trace):
// the one its invoker passed (the Invoke API's X-Amzn-Trace-Id, an SNS or EventBridge
// delivery), API Gateway's X-Amzn-Trace-Id request header, or an SQS batch's first
// AWSTraceHeader system attribute.
function callerTrace(event, carried) {
  if (typeof carried === "string" && carried) return carried;
  if (!event || typeof event !== "object") return null;
  const headers = event.headers;
  if (headers && typeof headers === "object") {
    for (const [key, value] of Object.entries(headers)) {
      if (key.toLowerCase() === "x-amzn-trace-id" && typeof value === "string") return value;
    }
  }
  const first = Array.isArray(event.Records) && event.Records.length ? event.Records[0] : null;
  const attrs = first && typeof first === "object" ? first.attributes : null;
  const found = attrs && typeof attrs === "object" ? attrs.AWSTraceHeader : null;
  return typeof found === "string" ? found : null;
}

// _X_AMZN_TRACE_ID of one invocation and the caller's span id (bootstrap.py trace_header): the
// caller's root or a new one, a new Parent (the invocation span's id, which the handler's AWS
// calls name as theirs), sampled when the function's tracing is Active unless the caller decided.
function traceHeader(event, carried) {
  let root = null;
  let parent = null;
  let sampled = null;
  const caller = callerTrace(event, carried);
  if (caller !== null) {
    for (const part of caller.split(";")) {
      const at = part.indexOf("=");
      const name = (at < 0 ? part : part.slice(0, at)).trim();
      const text = at < 0 ? "" : part.slice(at + 1).trim();
      if (name === "Root" && text) root = text;
      else if (name === "Parent" && text) parent = text;
      else if (name === "Sampled" && (text === "0" || text === "1")) sampled = text;
    }
    if (root === null) parent = sampled = null;
  }
  const hex = (n) => require("crypto").randomBytes(n).toString("hex");
  if (root === null) root = `1-${Math.floor(Date.now() / 1000).toString(16).padStart(8, "0")}-${hex(12)}`;
  if (sampled === null) sampled = process.env.HARNESS_TRACING_MODE === "Active" ? "1" : "0";
  return { trace: `Root=${root};Parent=${hex(8)};Sampled=${sampled}`, parent };
}

function correlationId(event) {
  const headers = event && typeof event === "object" ? event.headers : null;
  if (headers && typeof headers === "object") {
    for (const [key, value] of Object.entries(headers)) {
      if (key.toLowerCase() === "x-correlation-id" && typeof value === "string") return value;
    }
  }
  return "";
}

function makeContext(header) {
  const deadline = header.deadline;
  return {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || "",
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || "$LATEST",
    invokedFunctionArn: header.arn || "",
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || "128",
    awsRequestId: header.id,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME || "",
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME || "",
    identity: undefined,
    clientContext: undefined,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, Math.floor(deadline - Date.now())),
  };
}

function runHandler(event, context) {
  // async handlers return a promise; callback handlers take a third argument (Lambda's rule)
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== null && err !== undefined) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (result) => callback(null, result);
    context.fail = (err) => callback(err);
    try {
      const out = handler(event, context, callback);
      if (out && typeof out.then === "function") {
        out.then((r) => callback(null, r), (e) => callback(e === undefined ? new Error("undefined") : e));
      } else if (handler.length < 3) {
        callback(null, out);
      }
    } catch (err) {
      callback(err);
    }
  });
}

async function applyFault(fault, deadline) {
  if (!fault) return undefined;
  const delay = Number(fault.delay_ms || 0);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  const mode = String(fault.mode || "");
  if (mode === "timeout") await new Promise(() => setInterval(() => {}, 1000)); // never returns
  if (mode === "denylist" || mode === "diskspace") {
    logLine("WARN", [`fault mode ${mode} is not applied by the Node.js bootstrap`]);
  }
  return mode;
}

function faultOutcome(fault) {
  const mode = String(fault.mode || "");
  if (mode === "exception" || mode === "error") {
    const err = new Error(String(fault.message || "Injected fault"));
    err.name = "InjectedFault";
    throw err;
  }
  if (mode === "statuscode") {
    const status = parseInt(fault.status || 500, 10);
    return {
      statusCode: status,
      headers: { "Content-Type": String(fault.content_type || "application/json") },
      body: JSON.stringify({ message: `injected status code ${status}` }),
    };
  }
  return null;
}

function send(error, payload, ms, fatal, rss, cid) {
  const header = { error, ms, rss: rss === undefined ? peakRssKb() : rss };
  if (logs.length) header.logs = logs;
  if (cid) header.cid = cid;
  if (fatal) header.fatal = true;
  if (trace.trace) {
    // the runtime's invocation span: its trace, id and parent (as bootstrap.py sends them)
    header.trace = trace.trace;
    if (trace.parent) header.tparent = trace.parent;
  }
  writeFrame(header, Buffer.from(JSON.stringify(payload === undefined ? null : payload)));
}

function dieOom(cid) {
  send(
    true,
    errorPayload(
      "Runtime.OutOfMemory",
      `RequestId: ${requestId} Error: Runtime exited with error: signal: killed`,
    ),
    0,
    true,
    undefined,
    cid,
  );
  process.exit(OOM_EXIT_CODE);
}

async function invoke(header, body) {
  requestId = header.id;
  logs = [];
  trace = { trace: "", parent: null };
  let event;
  try {
    event = body.length ? JSON.parse(body.toString("utf8")) : {};
  } catch (err) {
    send(true, errorPayload("Runtime.UnmarshalError", `Unable to unmarshal input: ${err.message}`), 0, false);
    return;
  }
  const cid = correlationId(event);
  trace = traceHeader(event, header.trace);
  process.env._X_AMZN_TRACE_ID = trace.trace;
  const context = makeContext(header);
  const sampler = setInterval(() => {
    if (rssKb() > memoryLimitKb) dieOom(cid);
  }, 50);
  const started = process.hrtime.bigint();
  let error = false;
  let payload;
  try {
    const fault = header.fault;
    await applyFault(fault, header.deadline);
    let result = fault && fault.prevent ? faultOutcome(fault) : await runHandler(event, context);
    if (fault && !fault.prevent && ["exception", "error", "statuscode"].includes(String(fault.mode))) {
      result = faultOutcome(fault);
    }
    payload = result === undefined ? null : result;
    JSON.stringify(payload);
  } catch (err) {
    error = true;
    payload = fromError(err);
    logLine("ERROR", [`Invoke Error \t${JSON.stringify(payload)}`]);
  }
  clearInterval(sampler);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const peak = peakRssKb();
  if (peak > memoryLimitKb) dieOom(cid);
  send(error, payload, ms, false, peak, cid);
}

// -- main ------------------------------------------------------------------------------------
async function main() {
  const started = process.hrtime.bigint();
  const note = process.env.HARNESS_RUNTIME_NOTE;
  if (note) logs.push(["stderr", "WARNING", `[WARNING] ${note}`]);
  await init();
  const initMs = Number(process.hrtime.bigint() - started) / 1e6;
  writeFrame({ type: "ready", init_ms: initMs, error: initError, logs }, null);
  logs = [];
  let buffer = Buffer.alloc(0);
  let busy = false;
  const queue = [];
  async function drain() {
    if (busy) return;
    busy = true;
    while (queue.length) {
      const [header, body] = queue.shift();
      if (initError !== null) {
        requestId = header.id;
        logs = [];
        send(true, initError, 0, true);
        continue;
      }
      await invoke(header, body);
    }
    busy = false;
  }
  process.stdin.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 8) {
      const hlen = buffer.readUInt32BE(0);
      const blen = buffer.readUInt32BE(4);
      if (buffer.length < 8 + hlen + blen) break;
      const header = JSON.parse(buffer.subarray(8, 8 + hlen).toString("utf8"));
      const body = buffer.subarray(8 + hlen, 8 + hlen + blen);
      buffer = buffer.subarray(8 + hlen + blen);
      queue.push([header, Buffer.from(body)]);
    }
    drain();
  });
  process.stdin.on("end", () => process.exit(0));
}

process.on("uncaughtException", (err) => {
  // Lambda's Node.js runtime: an uncaught exception ends the environment (Runtime.ExitError)
  logLine("ERROR", [`Uncaught Exception \t${JSON.stringify(fromError(err))}`]);
  send(true, fromError(err), 0, true);
  process.exit(129);
});

main();
