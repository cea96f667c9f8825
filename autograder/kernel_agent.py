"""The part of the grader that runs INSIDE the student's sandboxed kernel (untrusted territory).

The trusted side installs this module (together with the source of `plaindata`) as `sys.modules["_mfdl_agent"]`
after the student's notebook has run, then calls student functions with

    _mfdl_agent.call("affine_forward", "<plain-data JSON of (args, kwargs)>")

The result goes back as one display_data message of MIME type RESULT_MIME holding plain-data JSON. Nothing
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

    def call(name, payload):
        ns = _user_ns()
        if name not in ns:
            _publish({"status": "missing", "message": f"{name} is not defined in your notebook"})
            return
        try:
            args, kwargs = _build(codec.decode(payload, allow_code=True), ns)
            result = ns[name](*args, **kwargs)
        except Exception as exc:  # the student's own error, reported as data
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            _publish({"status": "error", "message": f"{type(exc).__name__}: {exc}"[:2000],
                      "traceback": "".join(tb[-6:])[-4000:]})
            return
        try:
            text = codec.encode(result)
        except Exception as exc:
            _publish({"status": "unsendable", "message": f"{name} returned a value that cannot be graded: {exc}"[:2000]})
            return
        _publish({"status": "ok", "value": text})

    agent.call = call
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
