"""openai-python, with its default retries, against `aichaos serve`, compared with the
simulator's `openai-python` preset on the same world.

    python3 tests/openai_compat.py target/release/aichaos

The world: a model answering in about 10 ms, whose provider fails 40 % of the attempts on
its own (20 % 500, 10 % 503, and a brownout's 429s without Retry-After for 15 % of the
rest: 40.5 % in all), so the client's backoff decides every delay. openai-python 3.x retries each of them twice (3 attempts), sleeping
min(0.5 * 2^n, 8) * (1 - 0.25 U) seconds before retry n + 1.

What is compared, each with its tolerance:
- attempts per request (the amplification): the real client's mean against the
  simulator's, within 4 standard errors of their difference (attempts per request have a
  variance of at most 0.7 here);
- the share of requests that succeed, the same way (a Bernoulli variance);
- the end-to-end latency of successful requests (service times plus the backoff sleeps):
  the real client's mean within 4 standard errors (its own sample's) plus 30 ms of client
  and loopback overhead per request of the simulator's mean;
- each delay the real client left between a failed attempt and its retry: within the
  backoff formula's range, [0.375, 0.5] s before the first retry and [0.75, 1.0] s before
  the second, plus 60 ms for the answer's reading and scheduling.

Then the walk-through: the server's `--request-log`, fitted by `aichaos fit`, against what
the client saw and against the simulation's own log fitted the same way:
- the attempts per request the log's records join into (by the SDK's
  `x-stainless-retry-count` and the same body: the SDK sends no request id) are exactly
  the client's own counts;
- the closest preset to the fitted retries is `openai-python`, and the median first gap
  is inside the backoff range plus 60 ms;
- the fitted rate of 500s, per attempt not rate-limited, is within 4 standard errors of
  the rate fitted from the simulation's log (over the attempts it is counted on); a fit
  with no 500s on either side fails.

Prints each check and exits 1 when one fails.
"""

import collections
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import openai

REQUESTS = 120
THREADS = 6

WORLD = {
    "name": "openai-python-compat",
    "seed": 17,
    "traffic": [{
        "name": "app",
        "arrivals": {"type": "poisson", "rate": "20/s"},
        "max_requests": 4000,
        "request": {"model": "m", "input_tokens": 4, "output_tokens": 8, "max_tokens": 16},
        "policy": {"preset": "openai-python"},
    }],
    "providers": [{
        "name": "p",
        "models": [{"name": "m", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2,
                    "ttft": "5ms", "per_token": "1ms"}],
        "errors": {"500": 0.2, "503": 0.1},
        "error_latency": "5ms",
        # A provider-side brownout answering 429 (no Retry-After) to 15 % of the rest.
        "outages": [{"start": "0s", "duration": "24h", "kind": "brownout",
                     "error_rate": 0.15, "error_status": 429}],
    }],
}


def simulate(binary, world_file, out_dir, log_file):
    done = subprocess.run(
        [binary, "run", world_file, "--no-charts", "--json", "--quiet", "--out", out_dir,
         "--request-log", log_file],
        capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        sys.exit(f"aichaos run failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)["scenarios"][0]


def fit(binary, log_file, out_file):
    """`aichaos fit` on a request log: its fit.json."""
    done = subprocess.run(
        [binary, "fit", log_file, "--out", out_file, "--no-charts", "--force"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"aichaos fit {log_file} failed ({done.returncode}): {done.stderr}")
    with open(os.path.join(os.path.dirname(out_file), "fit.json")) as f:
        return json.load(f)


def serve(binary, world_file, log_file):
    process = subprocess.Popen(
        [binary, "serve", world_file, "--listen", "127.0.0.1:0", "--request-log", log_file],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    if "http://" not in first:
        process.kill()
        sys.exit(f"aichaos serve did not start: {first}{process.stderr.read()}")
    return process, first.split("http://")[1].split()[0]


def drive(address):
    """Runs REQUESTS requests through openai-python: per request, its outcome, its
    end-to-end seconds and the gaps before each retry."""
    records = []
    lock = threading.Lock()
    indices = iter(range(REQUESTS))

    def worker():
        local = threading.local()

        def on_request(request):
            local.sent.append(time.monotonic())

        def on_response(response):
            local.answered.append(time.monotonic())

        # The SDK's own HTTP client class (httpx or its successor, whichever it ships)
        # with hooks that time each attempt.
        http = openai.DefaultHttpxClient(
            event_hooks={"request": [on_request], "response": [on_response]})
        client = openai.OpenAI(base_url=f"http://{address}/v1", api_key="test", http_client=http)
        while True:
            with lock:
                index = next(indices, None)
            if index is None:
                return
            local.sent, local.answered = [], []
            started = time.monotonic()
            try:
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hello"}])
                ok = True
            except openai.APIStatusError:
                ok = False
            elapsed = time.monotonic() - started
            gaps = [local.sent[i + 1] - local.answered[i] for i in range(len(local.sent) - 1)]
            with lock:
                records.append({"ok": ok, "attempts": len(local.sent), "seconds": elapsed,
                                "gaps": gaps})

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return records


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/aichaos"
    checks = []

    def check(name, ok, detail):
        checks.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    with tempfile.TemporaryDirectory() as tmp:
        world_file = os.path.join(tmp, "world.json")
        with open(world_file, "w") as f:
            json.dump(WORLD, f)
        sim_log, served_log = os.path.join(tmp, "sim.jsonl"), os.path.join(tmp, "served.jsonl")
        simulated = simulate(binary, world_file, os.path.join(tmp, "out"), sim_log)
        process, address = serve(binary, world_file, served_log)
        try:
            records = drive(address)
        finally:
            # SIGTERM: the server drains and writes its request log whole.
            process.terminate()
            process.wait(timeout=20)
        os.makedirs(os.path.join(tmp, "fit-served"))
        os.makedirs(os.path.join(tmp, "fit-sim"))
        served_fit = fit(binary, served_log, os.path.join(tmp, "fit-served", "fitted.json"))
        sim_fit = fit(binary, sim_log, os.path.join(tmp, "fit-sim", "fitted.json"))

    print(f"openai {openai.__version__}; {len(records)} requests through `aichaos serve`; "
          f"{simulated['requests']['arrived']} simulated with the openai-python preset")
    attempts = [r["attempts"] for r in records]
    real_amp = statistics.mean(attempts)
    sim_amp = simulated["amplification"]
    sim_n = simulated["requests"]["arrived"]
    var = statistics.pvariance(attempts) or 0.7
    tolerance = 4 * math.sqrt(var / len(records) + var / sim_n)
    check("attempts per request", abs(real_amp - sim_amp) <= tolerance,
          f"real {real_amp:.3f}, simulated {sim_amp:.3f}, tolerance {tolerance:.3f}")
    check("at most 3 attempts (2 retries)", max(attempts) <= 3, f"max {max(attempts)}")

    real_ok = sum(r["ok"] for r in records) / len(records)
    sim_ok = simulated["success_rate"]
    p = (real_ok + sim_ok) / 2
    tolerance = 4 * math.sqrt(p * (1 - p) * (1 / len(records) + 1 / sim_n))
    check("success rate", abs(real_ok - sim_ok) <= tolerance,
          f"real {real_ok:.3f}, simulated {sim_ok:.3f}, tolerance {tolerance:.3f}")

    ok_seconds = [r["seconds"] for r in records if r["ok"]]
    real_ms = 1000 * statistics.mean(ok_seconds)
    sim_ms = simulated["latency_ms"]["mean"]
    tolerance = 4 * 1000 * statistics.stdev(ok_seconds) / math.sqrt(len(ok_seconds)) + 30
    check("latency of successes (backoff included)", abs(real_ms - sim_ms) <= tolerance,
          f"real {real_ms:.0f} ms, simulated {sim_ms:.0f} ms, tolerance {tolerance:.0f} ms")

    for n, (low, high) in enumerate([(0.375, 0.5), (0.75, 1.0)]):
        gaps = [r["gaps"][n] for r in records if len(r["gaps"]) > n]
        inside = all(low - 0.005 <= g <= high + 0.06 for g in gaps)
        shown = f"{min(gaps):.3f}-{max(gaps):.3f} s over {len(gaps)}" if gaps else "none"
        check(f"delay before retry {n + 1} in [{low}, {high}] s", inside and len(gaps) > 3, shown)

    retries = served_fit["retries"] or {}
    counted = {str(k): v for k, v in sorted(collections.Counter(attempts).items())}
    check("fit: attempts per request joined from the log", retries.get("attempts_per_request") == counted,
          f"fitted {retries.get('attempts_per_request')}, the client's {counted}")
    gap = (retries.get("median_gap_s") or [None])[0]
    check("fit: closest preset", retries.get("closest_preset") == "openai-python",
          f"{retries.get('closest_preset')} (distance {retries.get('preset_distance')}, first gap {gap} s)")
    check("fit: median first gap in [0.375, 0.5] s", gap is not None and 0.375 <= gap <= 0.56,
          f"{gap} s")

    def rate_500(report):
        """The fitted background rate of 500s and the attempts it is counted over, or None
        when the fit found none: the world fails 40 % of attempts, so a log without 500s
        is a failure, not a rate of 0 over one attempt (which any tolerance would pass)."""
        provider = report["providers"][0]
        rate = provider["background"].get("500")
        if not rate or rate["count"] <= 0 or rate["rate"] <= 0:
            return None
        # The rate's own denominator (attempts outside outage windows and not rate-limited),
        # exact once count > 0; it cannot exceed the provider's fitted attempts.
        n = round(rate["count"] / rate["rate"])
        if not 0 < n <= provider["attempts"]:
            return None
        return rate["rate"], n
    real, sim = rate_500(served_fit), rate_500(sim_fit)
    if real is None or sim is None:
        check("fit: rate of 500s, served against simulated", False,
              f"no 500s fitted: served {served_fit['providers'][0]['background']}, "
              f"simulated {sim_fit['providers'][0]['background']}")
    else:
        (real_rate, real_n), (sim_rate, sim_n) = real, sim
        p = (real_rate + sim_rate) / 2
        tolerance = 4 * math.sqrt(p * (1 - p) * (1 / real_n + 1 / sim_n))
        check("fit: rate of 500s, served against simulated",
              abs(real_rate - sim_rate) <= tolerance,
              f"served {real_rate:.3f} of {real_n}, simulated {sim_rate:.3f} of {sim_n}, "
              f"tolerance {tolerance:.3f}")

    passed = sum(checks)
    # Not the "N passed, N failed" line CI reads as a test runner's total: cargo's is that.
    print(f"openai-python compatibility: {passed} of {len(checks)} checks passed")
    sys.exit(0 if passed == len(checks) else 1)


if __name__ == "__main__":
    main()
