"""The committed (and the installed) stubs match the proto."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

from conftest import CLIENT_DIR


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_stubs", CLIENT_DIR / "generate_stubs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_are_fresh():
    gen = _generator()
    stale = gen.diff(gen.generate(), gen.committed())
    assert not stale, (
        "stubs under clients/python/code_executor/_proto are stale; run "
        "`python clients/python/generate_stubs.py`:\n" + stale
    )


def test_installed_stubs_match_the_proto(tmp_path):
    """Guards against testing an installed package built from an older proto."""
    import grpc_tools
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    from code_executor._proto.codeexecutor.v1 import code_executor_pb2 as installed

    gen = _generator()
    out = tmp_path / "set.pb"
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    assert protoc.main([
        "protoc", f"-I{gen.PROTO_ROOT}", f"-I{well_known}",
        f"--descriptor_set_out={out}", str(gen.PROTO_ROOT / gen.PROTO_FILES[0]),
    ]) == 0
    (expected,) = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    _strip_json_names(expected.message_type)  # gencode leaves out the default ones
    actual = descriptor_pb2.FileDescriptorProto.FromString(installed.DESCRIPTOR.serialized_pb)
    _strip_json_names(actual.message_type)
    assert actual == expected, (
        f"the installed code_executor ({installed.__file__}) was built from "
        "another proto; reinstall it: pip install ./clients/python"
    )


def _strip_json_names(messages) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _strip_json_names(message.nested_type)


def test_generated_modules_import_each_other_inside_the_package():
    from code_executor._proto.codeexecutor.v1 import code_executor_pb2_grpc

    assert "codeexecutor" not in sys.modules  # no top-level package needed
    assert code_executor_pb2_grpc.CodeExecutorStub
