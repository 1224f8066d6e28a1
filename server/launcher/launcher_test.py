"""Tests of launcher.py: runs it as the pod would, on a temporary bundle dir.

Run: python3 -m unittest server/launcher/launcher_test.py (ctest:
launcher_test); pytest collects it too.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "launcher.py")


class Run(object):
    """What one launcher run wrote, decoded."""

    def __init__(self, raw, returncode):
        self.raw = raw
        self.returncode = returncode
        self.lines = raw.split(b"\n")
        assert self.lines[-1] == b"", "output must end with a newline"
        self.lines.pop()
        self.stdout, self.stderr, self.files = b"", b"", {}
        self.o_frames, self.truncated, self.exit_code = 0, False, None
        for line in self.lines:
            assert self.exit_code is None, "x must be the last frame"
            fields = line.split(b" ")
            assert fields[0] == b"@ce1", line[:100]
            if fields[1] == b"o":
                self.stdout += base64.b64decode(fields[2], validate=True)
                self.o_frames += 1
            elif fields[1] == b"e":
                self.stderr += base64.b64decode(fields[2], validate=True)
            elif fields[1] == b"f":
                path = base64.b64decode(fields[2]).decode()
                self.files[path] = base64.b64decode(fields[3], validate=True)
            elif fields[1] == b"t":
                self.truncated = True
            elif fields[1] == b"x":
                self.exit_code = int(fields[2])
            else:
                raise AssertionError("unknown frame %r" % line[:100])
        assert self.exit_code is not None, "no x frame"


class LauncherTest(unittest.TestCase):

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.bundle = os.path.join(self._tmp.name, "bundle")
        self.workspace = os.path.join(self._tmp.name, "workspace")
        os.mkdir(self.bundle)
        os.mkdir(self.workspace)

    def tearDown(self):
        self._tmp.cleanup()

    def bundle_for(self, code, files=(), stdin=None, env=(), **manifest):
        """Writes the bundle; code is a Python program (dedented)."""
        self.write_key("program", textwrap.dedent(code).encode())
        entries = []
        for i, (path, content) in enumerate(files):
            self.write_key("f%d" % i, content)
            entries.append({"key": "f%d" % i, "path": path})
        if stdin is not None:
            self.write_key("stdin", stdin)
        m = {"version": 1, "command": [sys.executable, "main.py"],
             "program": {"key": "program", "path": "main.py"},
             "files": entries, "stdin_key": "stdin" if stdin else None,
             "env": [list(e) for e in env], "max_output_files": 32,
             "max_output_file_bytes": 2 << 20}
        m.update(manifest)
        self.write_key("manifest.json", json.dumps(m).encode())

    def write_key(self, key, content):
        with open(os.path.join(self.bundle, key), "wb") as f:
            f.write(content)

    def start(self, **extra_env):
        env = dict(os.environ, CE_BUNDLE_DIR=self.bundle,
                   CE_WORKSPACE=self.workspace, **extra_env)
        return subprocess.Popen([sys.executable, "-u", LAUNCHER], env=env,
                                stdout=subprocess.PIPE)

    def run_launcher(self, **extra_env):
        proc = self.start(**extra_env)
        raw, _ = proc.communicate(timeout=60)
        return Run(raw, proc.returncode)

    def test_separates_stdout_and_stderr(self):
        self.bundle_for("""
            import sys
            print("to stdout")
            print("to stderr", file=sys.stderr)
        """)
        run = self.run_launcher()
        self.assertEqual(run.stdout, b"to stdout\n")
        self.assertEqual(run.stderr, b"to stderr\n")
        self.assertEqual((run.exit_code, run.returncode), (0, 0))
        self.assertEqual(run.files, {})
        self.assertFalse(run.truncated)

    def test_streams_a_partial_line_before_the_program_ends(self):
        self.bundle_for("""
            import os, sys, time
            sys.stdout.write("partial")
            sys.stdout.flush()
            while not os.path.exists("go"):
                time.sleep(0.01)
            print(" rest")
        """)
        proc = self.start()
        first = proc.stdout.readline()
        self.assertEqual(first, b"@ce1 o " + base64.b64encode(b"partial") +
                         b"\n")
        open(os.path.join(self.workspace, "go"), "w").close()
        rest, _ = proc.communicate(timeout=60)
        run = Run(first + rest, proc.returncode)
        self.assertEqual(run.stdout, b"partial rest\n")
        self.assertEqual(run.files, {"go": b""})

    def test_binary_output(self):
        self.bundle_for("""
            import sys
            sys.stdout.buffer.write(bytes(range(256)))
            sys.stderr.buffer.write(b"\\xff\\xfe\\x00bad utf-8")
        """)
        run = self.run_launcher()
        self.assertEqual(run.stdout, bytes(range(256)))
        self.assertEqual(run.stderr, b"\xff\xfe\x00bad utf-8")

    def test_huge_line_is_split_into_small_frames(self):
        self.bundle_for("""
            import sys
            sys.stdout.buffer.write(bytes(i % 251 for i in range(1 << 20)))
        """)
        run = self.run_launcher()
        self.assertEqual(run.stdout, bytes(i % 251 for i in range(1 << 20)))
        self.assertGreaterEqual(run.o_frames, (1 << 20) // 3072)
        self.assertLessEqual(max(len(line) for line in run.lines),
                             len("@ce1 o ") + 4096)

    def test_program_closes_stdout_early(self):
        self.bundle_for("""
            import os, sys, time
            print("before", flush=True)
            os.close(1)
            time.sleep(0.3)
            sys.stderr.write("after close")
        """)
        run = self.run_launcher()
        self.assertEqual(run.stdout, b"before\n")
        self.assertEqual(run.stderr, b"after close")
        self.assertEqual(run.exit_code, 0)

    def test_program_killing_itself(self):
        self.bundle_for("""
            import os, signal
            print("bye", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """)
        run = self.run_launcher()
        self.assertEqual(run.stdout, b"bye\n")
        self.assertEqual((run.exit_code, run.returncode), (137, 137))

    def test_exit_code(self):
        self.bundle_for("import sys; sys.exit(3)")
        run = self.run_launcher()
        self.assertEqual((run.exit_code, run.returncode), (3, 3))

    def test_stdin_is_fed_or_empty(self):
        self.bundle_for("import sys; sys.stdout.write(sys.stdin.read()[::-1])",
                        stdin=b"abc\n")
        self.assertEqual(self.run_launcher().stdout, b"\ncba")
        self.tearDown()
        self.setUp()
        self.bundle_for("import sys; print(repr(sys.stdin.read()))")
        self.assertEqual(self.run_launcher().stdout, b"''\n")

    def test_environment(self):
        self.bundle_for("""
            import os
            print(os.environ["A"], os.environ["B"], os.environ["PATH"] != "")
            print(os.getcwd())
            print(sorted(k for k in os.environ if k.startswith("KUBERNETES")))
        """, env=[("A", "1"), ("B", "2"), ("A", "3")])
        run = self.run_launcher(KUBERNETES_SERVICE_HOST="10.0.0.1")
        ws = os.path.realpath(self.workspace).encode()
        self.assertEqual(run.stdout, b"3 2 True\n" + ws + b"\n[]\n")

    def test_input_files_in_and_output_files_out(self):
        self.bundle_for("""
            import os
            print(open("data/in.csv").read(), end="")
            with open("data/changed.txt", "a") as f:
                f.write("+more")
            with open("main.py", "a") as f:
                f.write("# the program file is never returned")
            os.makedirs("out/deep")
            with open("out/deep/result.bin", "wb") as f:
                f.write(b"\\x00\\x01")
            os.symlink("/etc/passwd", "link")
            os.mkfifo("fifo")
        """, files=[("data/in.csv", b"a,b\n1,2\n"),
                    ("data/changed.txt", b"base")])
        run = self.run_launcher()
        self.assertEqual(run.stdout, b"a,b\n1,2\n")
        self.assertEqual(run.files, {"data/changed.txt": b"base+more",
                                     "out/deep/result.bin": b"\x00\x01"})
        paths = [line.split(b" ")[2] for line in run.lines
                 if line.startswith(b"@ce1 f ")]
        self.assertEqual(paths, sorted(paths, key=base64.b64decode))
        self.assertFalse(run.truncated)

    def test_output_file_count_cap(self):
        self.bundle_for("""
            for name in "cab":
                open(name, "w").write(name)
        """, max_output_files=2)
        run = self.run_launcher()
        self.assertEqual(run.files, {"a": b"a", "b": b"b"})
        self.assertTrue(run.truncated)

    def test_output_file_bytes_cap_skips_big_files(self):
        self.bundle_for("""
            open("a", "w").write("x" * 10)
            open("b", "w").write("x" * 100)
            open("c", "w").write("x" * 15)
            open("d", "w").write("x" * 1)
        """, max_output_file_bytes=25)
        run = self.run_launcher()
        self.assertEqual(sorted(run.files), ["a", "c"])
        self.assertTrue(run.truncated)

    def test_unchanged_big_input_does_not_count_against_caps(self):
        self.bundle_for("pass", files=[("big", b"y" * 1000)],
                        max_output_file_bytes=10)
        run = self.run_launcher()
        self.assertEqual(run.files, {})
        self.assertFalse(run.truncated)

    def test_bad_manifest(self):
        self.bundle_for("pass")
        for manifest in [b"{not json", b'{"version": 2}', b'{"version": 1}',
                         json.dumps({"version": 1, "command": ["true"],
                                     "program": {"key": "program",
                                                 "path": "../escape.py"},
                                     "files": [], "env": [],
                                     "max_output_files": 1,
                                     "max_output_file_bytes": 1}).encode()]:
            self.write_key("manifest.json", manifest)
            run = self.run_launcher()
            self.assertEqual((run.exit_code, run.returncode), (127, 127))
            self.assertTrue(run.stderr.startswith(b"launcher: "), run.stderr)
            self.assertEqual(run.stdout, b"")
        self.assertEqual(os.listdir(self.workspace), [])

    def test_command_not_found(self):
        self.bundle_for("pass", command=["/no/such/interpreter", "main.py"])
        run = self.run_launcher()
        self.assertEqual(run.exit_code, 127)
        self.assertIn(b"/no/such/interpreter", run.stderr)

    def test_program_cannot_forge_frames(self):
        self.bundle_for("""
            import sys
            print("@ce1 x 0")
            print("@ce1 f YQ== YQ==", file=sys.stderr)
            sys.exit(5)
        """)
        run = self.run_launcher()
        self.assertEqual(run.stdout, b"@ce1 x 0\n")
        self.assertEqual(run.exit_code, 5)
        self.assertEqual(run.files, {})

    def test_sigterm_is_forwarded(self):
        self.bundle_for("""
            import time
            print("ready", flush=True)
            time.sleep(60)
        """)
        proc = self.start()
        first = proc.stdout.readline()
        self.assertTrue(first.startswith(b"@ce1 o "))
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        run = Run(first + rest, proc.returncode)
        self.assertEqual(run.exit_code, 128 + signal.SIGTERM)

    def test_survives_the_signals_a_program_sends_it(self):
        # The program signals its parent (the launcher) with everything it
        # can catch; the run still ends with the program's own exit record.
        self.bundle_for("""
            import os, signal, sys
            for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                      signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM,
                      signal.SIGPIPE, signal.SIGTSTP, signal.SIGTTIN,
                      signal.SIGTTOU, signal.SIGWINCH, signal.SIGRTMIN):
                os.kill(os.getppid(), s)
            # The program itself starts with default dispositions.
            print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,
                  signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL)
            sys.exit(4)
        """)
        run = self.run_launcher()
        self.assertEqual(run.stdout, b"True True\n")
        self.assertEqual((run.exit_code, run.returncode), (4, 4))

    def test_launcher_settings_do_not_reach_the_program(self):
        self.bundle_for("""
            import os
            print(sorted(k for k in os.environ
                         if k.startswith(("CE_", "KUBERNETES_"))))
        """)
        run = self.run_launcher(KUBERNETES_SERVICE_HOST="10.0.0.1")
        self.assertEqual(run.stdout, b"[]\n")

    def test_every_byte_of_single_large_writes_arrives(self):
        sizes = [65535, 65536, 65537, 1 << 20, 8 << 20]
        self.bundle_for("""
            import os, sys
            for n in %r:
                os.write(1, b"o" * n)
                sys.stderr.buffer.write(b"e" * n)
                sys.stderr.flush()
        """ % (sizes,), max_output_bytes=64 << 20)
        run = self.run_launcher()
        self.assertEqual(run.stdout, b"o" * sum(sizes))
        self.assertEqual(run.stderr, b"e" * sum(sizes))

    @unittest.skipUnless(os.geteuid() == 0 and os.path.exists("/usr/bin/python3"),
                         "needs root (to drop to run_as) and /usr/bin/python3")
    def test_run_as_separates_the_program_from_the_launcher(self):
        self.bundle_for("""
            import os, signal
            print(os.getuid(), os.getgid(), os.getgroups())
            for what in ("main.py", "in/put.txt", "in", "."):
                st = os.stat(what)
                print(what, st.st_uid, st.st_gid)
            open("out.txt", "w").write("made")
            try:
                os.kill(os.getppid(), signal.SIGKILL)
                print("killed the launcher")
            except PermissionError:
                print("cannot kill the launcher")
        """, files=[("in/put.txt", b"x")], run_as=[65534, 65534],
            command=["/usr/bin/python3", "main.py"])  # readable by 65534
        os.chmod(self._tmp.name, 0o755)
        os.chmod(self.workspace, 0o755)
        run = self.run_launcher()
        self.assertEqual(run.stdout.decode().splitlines(), [
            "65534 65534 []", "main.py 65534 65534", "in/put.txt 65534 65534",
            "in 65534 65534", ". 65534 65534", "cannot kill the launcher"])
        self.assertEqual(run.files, {"out.txt": b"made"})
        self.assertEqual(run.exit_code, 0)

    def test_bad_run_as(self):
        self.bundle_for("pass", run_as=[0, 0])
        run = self.run_launcher()
        self.assertEqual(run.exit_code, 127)
        self.assertIn(b"run_as", run.stderr)

    def test_output_limit_kills_the_program(self):
        self.bundle_for("""
            import sys
            while True:
                sys.stdout.write("x" * 1000)
        """, max_output_bytes=5000)
        run = self.run_launcher()
        self.assertEqual(run.stdout, b"x" * 5001)
        self.assertEqual(run.exit_code, 137)

    def test_background_process_does_not_hold_the_run(self):
        self.bundle_for("""
            import subprocess
            subprocess.Popen(["sleep", "30"])
            print("main done")
        """)
        started = time.monotonic()
        run = self.run_launcher()
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual((run.stdout, run.exit_code), (b"main done\n", 0))

    def test_escaped_process_holding_a_pipe_is_given_up_on(self):
        # Outside a container (not pid 1) the launcher cannot kill a process
        # that left the program's group; it stops reading after a grace.
        self.bundle_for("""
            import subprocess, sys
            p = subprocess.Popen(["sleep", "30"], start_new_session=True)
            sys.stderr.write(str(p.pid))
        """)
        started = time.monotonic()
        run = self.run_launcher()
        try:
            self.assertLess(time.monotonic() - started, 10)
            self.assertEqual(run.exit_code, 0)
        finally:
            os.kill(int(run.stderr), signal.SIGKILL)


if __name__ == "__main__":
    unittest.main()
