"""The no-pickle channel: round trips of plain values, and refusal of everything else."""
import json

import numpy as np
import pytest

from autograder import plaindata
from autograder.plaindata import PlainDataError, decode, encode


@pytest.mark.parametrize("value", [
    None, True, 3, -2.5, "text", [1, 2.0, "x"], (1, (2, 3)), {"W1": np.eye(2), "b": [1.0]},
    float("nan"), float("-inf"), np.arange(6, dtype=np.float32).reshape(2, 3), np.array(True),
    np.zeros((0, 3)), np.array([1 + 2j]), np.float32(1.5), np.int64(7)])
def test_round_trip(value):
    out = decode(encode(value))
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        assert isinstance(out, np.ndarray) and out.dtype == np.asarray(value).dtype
        np.testing.assert_array_equal(out, np.asarray(value))
    elif isinstance(value, float) and value != value:
        assert out != out
    elif isinstance(value, dict):
        assert set(out) == set(value)
    else:
        assert out == value and type(out) is type(value)


class Liar:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [Liar(), np.array([Liar()], dtype=object), {1: 2}, lambda: 0, {"a": {object()}},
                                   np.array(["a"]), type("F", (float,), {})(1.0)])
def test_non_plain_values_are_refused(value):
    with pytest.raises(PlainDataError):
        encode(value)


@pytest.mark.parametrize("payload", [
    '{"__ndarray__": ["|O", [1], "AAAAAAAAAAA="]}',                 # object dtype
    '{"__ndarray__": ["<f8", [2], "AAAAAAAAAAA="]}',                # byte count does not match shape
    '{"__ndarray__": ["<f8", [-1], ""]}',                           # negative dimension
    '{"__ndarray__": [{"names": ["a"], "formats": ["O"]}, [1], ""]}',  # structured dtype spec
    '{"__code__": "__import__(\'os\').system(\'id\')"}',          # code is only ever accepted in the kernel
    '{"__pickle__": "gASV"}', '{"a": 1, "b": 2}', "[" * 100 + "]" * 100, "not json"])
def test_malformed_or_dangerous_payloads_are_refused(payload):
    with pytest.raises(PlainDataError):
        decode(payload)


def test_size_cap(monkeypatch):
    monkeypatch.setattr(plaindata, "MAX_PAYLOAD_BYTES", 1000)
    with pytest.raises(PlainDataError, match="too large"):
        encode(np.zeros(1000))
    with pytest.raises(PlainDataError, match="too large"):
        decode(json.dumps("x" * 2000))


def test_call_args_carry_remote_code_only_towards_the_kernel():
    text = plaindata.encode_call_args((plaindata.RemoteCode("lambda x: x"), np.ones(2)), {"h": 1e-5})
    args, kwargs = decode(text, allow_code=True)
    assert isinstance(args[0], plaindata.RemoteCode) and kwargs == {"h": 1e-5}
    with pytest.raises(PlainDataError):
        decode(text)


def test_pandas_values_cross_as_data():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"flavor": ["mint", "vanilla", "mint"], "price": [2.0, 1.5, 3.0]}, index=[10, 11, 12])
    series = frame.groupby("flavor").mean()["price"]
    for value in (frame, series):
        back = decode(encode(value))
        assert type(back) is type(value) and back.equals(value) and list(back.index) == list(value.index)
    with pytest.raises(PlainDataError):  # values that are not plain (here: objects) still cannot cross
        encode(pd.Series([object()]))
    with pytest.raises(PlainDataError):  # a forged frame whose columns and values disagree is refused
        decode('{"__frame__": [["a", "b"], [0], [[1]]]}')


def test_sets_cross_and_unhashable_members_are_refused():
    for value in ({2, 3, 5}, frozenset({"a", (1, 2)}), set()):
        back = decode(encode(value))
        assert back == value and type(back) is type(value)
    with pytest.raises(PlainDataError):
        decode('{"__set__": [[1, 2]]}')
