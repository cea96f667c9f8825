"""The part of the grader that runs INSIDE the student's sandboxed kernel (untrusted territory).

The trusted side installs this module (together with the source of `plaindata`) as `sys.modules["_mfdl_agent"]`
after the student's notebook has run, then calls student functions with

    _mfdl_agent.call("affine_forward", "<plain-data JSON of (args, kwargs)>")

The result goes back as one display_data message of MIME type RESULT_MIME holding plain-data JSON. With it go the
arguments the call changed in place (numpy arrays, lists, dicts, tuples holding them), each as plain data under
`changed` ({"0": ..., "k:name": ...}: position or keyword); the trusted side writes them back into its own objects,
so a test sees its arguments after the call as in Otter. Only arguments whose encoding differs from the one taken
before the call are sent. Nothing
here is trusted: a student can replace or break it, which can only make their own calls fail. The trusted
side accepts nothing but plain data from it.
"""
RESULT_MIME = "application/x-mfdl-result+json"

AGENT_CODE = r'''
def _mfdl_install(plaindata_source):
    import sys, types, traceback
    codec = types.ModuleType("_mfdl_plaindata")
    exec(compile(plaindata_source, "<mfdl plaindata>", "exec"), codec.__dict__)
    agent = types.ModuleType("_mfdl_agent")

    def _publish(payload):
        from IPython.display import display
        display({RESULT_MIME: payload}, raw=True)

    def _user_ns():
        return get_ipython().user_ns

    def _build(value, ns):
        if isinstance(value, codec.RemoteCode):
            import numpy
            return eval(value.source, {"np": numpy, "numpy": numpy, "__builtins__": __builtins__})
        if type(value) is list:
            return [_build(v, ns) for v in value]
        if type(value) is tuple:
            return tuple(_build(v, ns) for v in value)
        if type(value) is dict:
            return {k: _build(v, ns) for k, v in value.items()}
        return value

    class _Tee:
        """stdout during a graded call: still printed (so the output cap applies), the first 64 KB kept."""
        def __init__(self, real):
            self.real, self.kept, self.size = real, [], 0

        def write(self, text):
            if self.size < 65536:
                self.kept.append(text[:65536 - self.size])
                self.size += len(self.kept[-1])
            return self.real.write(text)

        def flush(self):
            return self.real.flush()

    def _lookup(name):
        """A notebook global, a dotted attribute of one (`model.weights`), or `import:mod.attr` for a
        module the tests import that only the student's side has (a student file)."""
        import importlib
        ns = _user_ns()
        if name.startswith("import:"):
            parts = name[len("import:"):].split(".")
            obj = importlib.import_module(parts[0])
        else:
            parts = name.split(".")
            if parts[0] not in ns:
                raise KeyError(parts[0])
            obj = ns[parts[0]]
        for part in parts[1:]:
            obj = getattr(obj, part)
        return obj

    handles = {}  # iterators (e.g. a generator a student function returned), stepped one plain item at a time

    def _handle(obj):
        handles[len(handles) + 1] = obj
        return len(handles)

    def step(handle):
        """next() of a kept iterator: the item as plain data, or `stop`."""
        it = handles.get(handle)
        if it is None:
            _publish({"status": "missing", "message": "this iterator no longer exists (the kernel restarted)"})
            return
        try:
            item = next(it)
        except StopIteration:
            _publish({"status": "stop"})
            return
        except Exception as exc:
            _publish({"status": "error", "message": f"{type(exc).__name__}: {exc}"[:2000]})
            return
        try:
            _publish({"status": "ok", "value": codec.encode(item)})
        except Exception as exc:
            _publish({"status": "unsendable", "message": f"the iterator yielded a value that cannot be graded: {exc}"[:2000]})

    def describe(payload):
        """What each name is in the student's namespace: missing, a module (its name), something callable
        (called through `call`), or a value sent back as plain data (or why it cannot be)."""
        import json as _json, types as _types
        out = {}
        for name in _json.loads(payload):
            try:
                obj = _lookup(name)
            except Exception:
                out[name] = {"kind": "missing"}
                continue
            if isinstance(obj, _types.ModuleType):
                out[name] = {"kind": "module", "module": str(obj.__name__)}
            elif callable(obj):
                out[name] = {"kind": "function", "type": type(obj).__name__}
            elif hasattr(obj, "__next__") and hasattr(obj, "__iter__"):
                out[name] = {"kind": "iterator", "handle": _handle(obj), "type": type(obj).__name__}
            else:
                try:
                    out[name] = {"kind": "value", "value": codec.encode(obj)}
                except Exception as exc:
                    out[name] = {"kind": "unsendable", "type": type(obj).__name__, "message": str(exc)[:500]}
        _publish({"status": "ok", "names": out})

    def _snapshot(args, kwargs):
        """[(key, argument, encoding before the call)] for every argument the call could change in place."""
        import numpy
        keyed = [(str(i), a) for i, a in enumerate(args)] + [("k:" + k, v) for k, v in kwargs.items()]
        out = []
        for key, value in keyed:
            if type(value) in (list, dict, tuple) or type(value) is numpy.ndarray:
                try:
                    out.append((key, value, codec.encode(value)))
                except Exception:  # holds something that never crosses (a lambda the grader sent): not tracked
                    pass
        return out

    def _changed(name, tracked, budget):
        """{key: plain-data text} of the tracked arguments whose encoding changed; raises ValueError with a
        message for the student if one cannot be sent back."""
        out = {}
        for key, value, before in tracked:
            label = f"argument {int(key) + 1}" if not key.startswith("k:") else f"argument {key[2:]}"
            try:
                after = codec.encode(value)
            except Exception as exc:
                raise ValueError(f"{name} left a value that cannot be graded in its {label}: {exc}") from None
            if after != before:
                budget -= len(after)
                if budget < 0:
                    raise ValueError(f"{name} changed its arguments in place into values too large to send back")
                out[key] = after
        return out

    def call(name, payload):
        import contextlib, sys as _sys
        try:
            func = _lookup(name)
        except Exception:
            _publish({"status": "missing", "message": f"{name} is not defined in your notebook"})
            return
        printed = _Tee(_sys.stdout)
        tracked = []
        try:
            args, kwargs = _build(codec.decode(payload, allow_code=True), _user_ns())
            tracked = _snapshot(args, kwargs)
            with contextlib.redirect_stdout(printed):
                result = func(*args, **kwargs)
        except Exception as exc:  # the student's own error, reported as data
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            reply = {"status": "error", "message": f"{type(exc).__name__}: {exc}"[:2000],
                     "traceback": "".join(tb[-6:])[-4000:]}
            try:  # what it changed before raising stays changed, as in Otter
                reply["changed"] = _changed(name, tracked, codec.MAX_PAYLOAD_BYTES)
            except Exception:
                pass
            _publish(reply)
            return
        try:
            changed = _changed(name, tracked, codec.MAX_PAYLOAD_BYTES)
        except ValueError as exc:
            _publish({"status": "unsendable", "message": str(exc)[:2000]})
            return
        if hasattr(result, "__next__") and hasattr(result, "__iter__"):  # a generator: kept here, stepped on demand
            _publish({"status": "ok", "handle": _handle(result), "type": type(result).__name__,
                      "stdout": "".join(printed.kept), "changed": changed})
            return
        try:
            text = codec.encode(result)
        except Exception as exc:
            _publish({"status": "unsendable", "message": f"{name} returned a value that cannot be graded: {exc}"[:2000]})
            return
        if len(text) + sum(len(t) for t in changed.values()) > codec.MAX_PAYLOAD_BYTES:
            _publish({"status": "unsendable", "message": f"{name}'s result and the arguments it changed in place are "
                      f"too large to send back together (more than {codec.MAX_PAYLOAD_BYTES} bytes)"})
            return
        # What the call printed goes back too (capped), for doctests that compare printed output.
        _publish({"status": "ok", "value": text, "stdout": "".join(printed.kept), "changed": changed})

    agent.call = call
    agent.describe = describe
    agent.step = step
    sys.modules["_mfdl_agent"] = agent

_mfdl_install(_MFDL_PLAINDATA_SOURCE)
del _mfdl_install, _MFDL_PLAINDATA_SOURCE
'''.replace("RESULT_MIME", repr(RESULT_MIME))


def install_code() -> str:
    """Code that installs the agent in a kernel (sent once per kernel, after the notebook ran)."""
    from pathlib import Path
    source = (Path(__file__).with_name("plaindata.py")).read_text()
    return f"_MFDL_PLAINDATA_SOURCE = {source!r}\n{AGENT_CODE}"


def call_code(name: str, payload: str) -> str:
    return f"__import__('_mfdl_agent').call({name!r}, {payload!r})"


def step_code(handle: int) -> str:
    return f"__import__('_mfdl_agent').step({int(handle)})"


def describe_code(names: list[str]) -> str:
    import json
    return f"__import__('_mfdl_agent').describe({json.dumps(list(names))!r})"
