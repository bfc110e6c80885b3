"""Bundles made by the repository's independent generator (ops/tests/bundlev3.py): accepted whole, refused when doctored."""
import base64
import copy
import importlib.util
import json
import os

import pytest

from conftest import ROOT
from greffe_client import VerificationError, verify_bundle


@pytest.fixture(scope="module")
def generator():
    path = os.path.join(ROOT, "ops", "tests", "bundlev3.py")
    spec = importlib.util.spec_from_file_location("bundlev3", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sparse,erase,hold", [(False, 0, False), (True, 2, True), (True, 0, False)])
def test_generated_v3_and_v2_bundles_verify(generator, sparse, erase, hold):
    bundle, vkey = generator.make(40, 7, sparse, erase, hold)
    report = verify_bundle(json.dumps(bundle), vkey)
    assert len(report.events) == 40
    assert sum(1 for e in report.events if e.erasure_record_index is not None) == erase
    assert report.holds == (1 if hold else 0)
    v2 = generator.to_v2(copy.deepcopy(bundle))
    assert verify_bundle(json.dumps(v2), vkey).format == "greffe-bundle/v2"


def _flip_b64(text, byte=0):
    raw = bytearray(base64.b64decode(text))
    raw[byte] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_doctored_bundles_are_refused(generator):
    bundle, vkey = generator.make(12, 3, True, 1, False)
    shown = next(i for i, e in enumerate(bundle["events"]) if e["body"] is not None)
    gap_event = next(i for i, e in enumerate(bundle["events"]) if e.get("gap"))
    doctorings = {
        "a body value": lambda b: b["events"][shown]["body"].update(subscription_tier="enterprise"),
        "a salt": lambda b: b["events"][shown].update(salt=_flip_b64(b["events"][shown]["salt"])),
        "an entry byte": lambda b: b["events"][shown].update(entry=_flip_b64(b["events"][shown]["entry"], 60)),
        "a gap hash": lambda b: b["events"][gap_event]["gap"].__setitem__(0, _flip_b64(b["events"][gap_event]["gap"][0])),
        "a gap hash removed": lambda b: b["events"][gap_event]["gap"].pop(),
        "a tail hash": lambda b: b["tail"].__setitem__(0, _flip_b64(b["tail"][0])),
        "an event removed": lambda b: b["events"].pop(shown),
        "events swapped": lambda b: b["events"].reverse(),
        "the checkpoint root": lambda b: b.update(checkpoint=b["checkpoint"].replace(b["checkpoint"].split("\n")[2], _flip_b64(b["checkpoint"].split("\n")[2]))),
        "an unknown member": lambda b: b["events"][shown].update(note="x"),
        "a body withheld without an erasure": lambda b: b["events"][shown].update(body=None, salt=None),
        "the erasure record's target": lambda b: next(e for e in b["events"] if e["body"] is None)["erased"]["record"]["body"].update(target_index=0),
    }
    verify_bundle(json.dumps(bundle), vkey)
    for name, doctor in doctorings.items():
        doctored = copy.deepcopy(bundle)
        doctor(doctored)
        with pytest.raises(VerificationError):
            verify_bundle(json.dumps(doctored), vkey)
            pytest.fail("accepted a bundle with %s changed" % name)
    other_bundle, other_key = generator.make(2, 4, False, 0, False)
    with pytest.raises(VerificationError):
        verify_bundle(json.dumps(bundle), other_key)
    with pytest.raises(VerificationError):
        verify_bundle(b'{"format": "greffe-bundle/v3", "format": "greffe-bundle/v3"}', vkey)


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, path + (i,))


def test_hostile_values_anywhere_raise_verification_errors_only(generator):
    """Every member replaced by a value of each other JSON type: a VerificationError or acceptance, never another exception."""
    bundle, vkey = generator.make(3, 5, True, 1, True)
    replacements = [None, True, -1, 2 ** 70, 1.5, "", "AAAA", [], [None], {}, {"x": 1}]
    tried = 0
    for path in _paths(bundle):
        if not path:
            continue
        for replacement in replacements:
            doctored = copy.deepcopy(bundle)
            target = doctored
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = replacement
            tried += 1
            try:
                verify_bundle(json.dumps(doctored), vkey)
            except VerificationError:
                pass
    assert tried > 1000
    deep = "[" * 100000 + "]" * 100000
    with pytest.raises(VerificationError):
        verify_bundle(deep, vkey)


def test_deeply_nested_body_is_refused_cleanly(generator):
    bundle, vkey = generator.make(1, 6, False, 0, False)
    text = json.dumps(bundle)
    body_start = text.index('"body": {') + len('"body": ')
    nested = text[:body_start] + '{"deep": ' + "[" * 950 + "]" * 950 + ", " + text[body_start + 1:]
    with pytest.raises(VerificationError):
        verify_bundle(nested, vkey)
