// Runs the MDN HTTP Observatory's own analysers and grader (npm @mdn/mdn-http-observatory)
// over retrievals described in JSON, for differential tests and the side-by-side benchmark.
//
//   node reference.mjs grade  < cases.json   -> one JSON result per case
//   node reference.mjs bench N < cases.json  -> analyse-and-grade all cases N times, print timing
//
// A case is what egov-monitor's checks.security_headers.Retrieval holds, as plain JSON.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, "node_modules", "@mdn", "mdn-http-observatory");
// The package reads its HSTS preload list from conf/; the cases use names that are not preloaded.
const preload = path.join(pkg, "conf", "hsts-preload.json");
if (!fs.existsSync(preload)) fs.writeFileSync(preload, "{}");

const { AxiosHeaders } = await import(path.join(here, "node_modules", "axios", "index.js"));
const { CookieJar } = await import(path.join(here, "node_modules", "tough-cookie", "dist", "cookie", "index.js"));
const { Requests, HTML_TYPES } = await import(path.join(pkg, "src", "types.js"));
const { ALL_TESTS, ALGORITHM_VERSION } = await import(path.join(pkg, "src", "constants.js"));
const { MINIMUM_SCORE_FOR_EXTRA_CREDIT } = await import(path.join(pkg, "src", "grader", "charts.js"));
const { getGradeForScore, getScoreModifier } = await import(path.join(pkg, "src", "grader", "grader.js"));
const { parseHttpEquivHeaders } = await import(path.join(pkg, "src", "retriever", "utils.js"));

const CORS_ORIGIN = "https://egov-monitor.invalid";

function nodeHeaders(pairs) {
  // Node's own joining rules for repeated headers, exactly as the retriever gets them.
  const msg = new http.IncomingMessage(null);
  const raw = pairs.flat();
  msg._addHeaderLines(raw, raw.length);
  return new AxiosHeaders(msg.headers);
}

function response(r) {
  if (!r) return null;
  return { status: r.status, headers: nodeHeaders(r.headers), data: r.body ?? "", verified: r.verified !== false,
           request: { headers: new AxiosHeaders({ origin: CORS_ORIGIN }) }, config: { url: r.url } };
}

function requests(c) {
  const req = new Requests(c.hostname);
  req.responses.auto = response(c.auto);
  req.responses.http = response(c.http);
  req.responses.https = response(c.https);
  req.responses.cors = response(c.cors);
  const route = c.http_route.length ? c.http_route : (c.http ? [[c.http.url, c.http.status]] : []);
  req.responses.httpRedirects = route.map(([url, status]) => ({ url: new URL(url), status }));
  req.responses.httpsRedirects = req.responses.httpRedirects;
  const jar = new CookieJar();
  for (const r of (c.session.length ? c.session : (c.auto ? [c.auto] : []))) {
    for (const [k, v] of r.headers) {
      if (k.toLowerCase() === "set-cookie") {
        try { jar.setCookieSync(v, r.url, { ignoreError: true }); } catch (e) { /* dropped like a browser would */ }
      }
    }
  }
  req.session = c.session_url ? { url: new URL(c.session_url), jar } : null;
  req.resources.path = c.auto ? c.auto.body ?? "" : null;
  if (req.responses.auto) {
    const ctype = req.responses.auto.headers["content-type"]?.split(";")[0];
    req.responses.auto.httpEquiv = HTML_TYPES.has(ctype) && req.resources.path
      ? parseHttpEquivHeaders(req.resources.path, c.session_url) : new Map();
  }
  return req;
}

function grade(req) {
  // The scoring loop of src/scanner/index.js, without its network retrieval.
  const results = ALL_TESTS.map((test) => test(req));
  let withBonus = 100, uncurved = 100;
  const tests = {};
  for (const r of results) {
    const modifier = r.result ? getScoreModifier(r.result) : 0;
    withBonus += modifier;
    if (modifier < 0) uncurved += modifier;
    tests[r.constructor.name] = { result: r.result, pass: r.pass };
  }
  const final = getGradeForScore(uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT ? withBonus : uncurved);
  return { algorithm_version: ALGORITHM_VERSION, score: final.score, grade: final.grade, tests };
}

const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const mode = process.argv[2] ?? "grade";
if (mode === "grade") {
  const out = cases.map((c) => { try { return grade(requests(c)); } catch (e) { return { error: String(e) }; } });
  process.stdout.write(JSON.stringify(out));
} else if (mode === "bench") {
  const rounds = Number(process.argv[3] ?? 1);
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let n = 0;
  for (let i = 0; i < rounds; i++) for (const c of cases) { grade(requests(c)); n++; }
  const cpu = process.cpuUsage(cpu0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ analyses: n, seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6 }));
}
