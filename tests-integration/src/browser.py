"""Drives headless Chromium through the DevTools protocol over a pipe (--remote-debugging-pipe):
opens one page, runs a list of steps on it, prints one JSON document.

Usage: browser.py URL STEPS_JSON CHROMIUM [CHROMIUM_FLAG ...]

STEPS_JSON is a JSON list; each step is one object:
  {"click": "#selector"}          a real mouse click (pressed + released) at the element's centre
  {"type": "text"}                types text into the focused element (Input.insertText)
  {"wait": "js expression", "timeout": seconds}
                                  polls the expression every 100 ms until it is truthy
  {"eval": "js expression"}       its value (promises awaited) goes into "results"

Prints {"results": [...], "exceptions": [...], "console_errors": [...]}: the values of the eval
steps, the page's uncaught exceptions and its console and log messages of level error. Exits 1
with a message on stderr when a step fails or times out. Standard library only; the pipe
carries JSON messages ended by a NUL byte, on fds 3 (to Chromium) and 4 (from it), which
bash maps for the child.
"""

import fcntl
import json
import os
import select
import subprocess
import sys
import tempfile
import time

STEP_TIMEOUT = 30.0


class Browser:
    def __init__(self, command, log_path):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        # High numbers first, so that mapping them to 3 and 4 in the child cannot clash.
        high_r = os_dup_high(to_child_r)
        high_w = os_dup_high(from_child_w)
        os.close(to_child_r)
        os.close(from_child_w)
        shell = f'exec "$@" 3<&{high_r} 4>&{high_w} {high_r}<&- {high_w}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", shell, "bash", *command],
            pass_fds=(high_r, high_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(log_path, "wb"),
        )
        self.log_path = log_path
        os.close(high_r)
        os.close(high_w)
        self.next_id = 0
        self.buffer = b""
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        return self.reply(self.next_id, method)

    def read_message(self, deadline):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium sent nothing in time")
            ready, _, _ = select.select([self.from_child], [], [], left)
            if ready:
                chunk = os.read(self.from_child, 65536)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe: " + self.stderr())
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def reply(self, wanted, method):
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            message = self.read_message(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, method, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self.read_message(deadline))

    def evaluate(self, expression):
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"{expression}: {text}")
        return result["result"].get("value")

    def stderr(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError as e:  # The message is for a failure already under way.
            return f"(no stderr: {e})"

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def os_dup_high(fd):
    """A copy of `fd` numbered 20 or more."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD, 20)


def click(browser, selector):
    point = browser.evaluate(
        "(() => { const e = document.querySelector(%s); if (!e) return null;"
        " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height]; })()"
        % json.dumps(selector)
    )
    if point is None:
        raise RuntimeError(f"click: nothing matches {selector}")
    x, y, width, height = point
    if width == 0 or height == 0:
        raise RuntimeError(f"click: {selector} is not visible")
    for kind in ("mousePressed", "mouseReleased"):
        browser.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
        )


def wait(browser, expression, timeout):
    """Polls `expression` until it is truthy; an error (the page is being replaced by a
    reload, say) counts as not yet."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = browser.evaluate(expression)
            if value:
                return value
        except RuntimeError as e:
            last_error = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {expression} (last error: {last_error})")
        time.sleep(0.1)


def main():
    url, steps, command = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
    profile = tempfile.mkdtemp(prefix="signaldb-chromium-")
    command = [*command, f"--user-data-dir={profile}", "--remote-debugging-pipe"]
    browser = Browser(command, os.path.join(profile, "stderr.log"))
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = browser.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        browser.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(domain + ".enable")
        browser.send("Page.navigate", {"url": url})
        browser.wait_event("Page.loadEventFired", STEP_TIMEOUT)
        results = []
        for step in steps:
            if "click" in step:
                click(browser, step["click"])
            elif "type" in step:
                browser.send("Input.insertText", {"text": step["type"]})
            elif "wait" in step:
                wait(browser, step["wait"], step.get("timeout", STEP_TIMEOUT))
            elif "eval" in step:
                results.append(browser.evaluate(step["eval"]))
            else:
                raise ValueError(f"unknown step {step}")
        exceptions, errors = [], []
        for event in browser.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                exceptions.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(params["entry"]["text"])
        print(json.dumps({"results": results, "exceptions": exceptions, "console_errors": errors}))
    except Exception as e:
        sys.exit(f"browser.py: {type(e).__name__}: {e}\n--- Chromium's stderr ---\n{browser.stderr()}")
    finally:
        browser.close()
        subprocess.run(["rm", "-rf", profile], check=False)


if __name__ == "__main__":
    main()
