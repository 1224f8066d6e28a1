# A sample program for scripts/demo: output streams in while it runs.
import platform
import sys
import time

print(f"hello from a gVisor sandbox (kernel {platform.release()}, "
      f"host {platform.node()})", flush=True)
for i in range(1, 4):
    time.sleep(0.5)
    print(f"tick {i}", flush=True)
print("this line goes to stderr", file=sys.stderr)
try:
    open("/etc/hostile", "w")
except OSError as e:
    print(f"writing /etc is refused: {e.strerror}", flush=True)
with open("result.txt", "w") as f:
    f.write("files written in the workspace come back\n")
sys.exit(3)
