"""A throwaway machine with a real systemd as PID 1, for tests of what an
operator does with systemctl and journalctl: this machine's own Debian root,
under an overlay whose upper layer is a temporary folder (nothing the
container writes reaches the host), booted by systemd-nspawn with a private
network (only its own loopback: its PostgreSQL and node take no host port).

Needs root and systemd-nspawn (Debian's systemd-container). Commands run in
the container's namespaces through nsenter, as root in a clean environment.
Only this test's own files should change under / while it runs: the overlay
reads the host's root as its lower layer."""

import os
import shutil
import subprocess
import tempfile
import time

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def available():
    """'' when a container can be booted here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("systemd-nspawn") or not shutil.which("nsenter"):
        return "systemd-nspawn or nsenter missing (deploy/install-deps.sh installs them)"
    if not os.path.exists("/usr/lib/systemd/systemd"):
        return "no systemd on this machine"
    return ""


class Container:
    def __init__(self, name="trellis-guide"):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="trellis-nspawn-", dir="/var/tmp")
        self.root = os.path.join(self.dir, "root")
        self.log_path = os.path.join(self.dir, "console.log")
        self.proc = None
        self.leader = None
        # The layers on a tmpfs of their own: never inside the lower layer.
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g,mode=0700", "trellis-nspawn",
                        self.dir], check=True)
        for d in ("upper", "work", "root"):
            os.mkdir(os.path.join(self.dir, d))
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir=/,upperdir={self.dir}/upper,workdir={self.dir}/work",
                        self.root], check=True)

    def boot(self, timeout=90):
        """Start systemd in the container and wait until it has booted;
        returns systemd's own word for the state (running, degraded)."""
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--quiet", "--directory", self.root, "--private-network",
             "--register=no", "--keep-unit", "--machine", self.name, "--boot"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.time() + timeout
        while self.leader is None and time.time() < deadline:
            kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                  text=True).stdout.split()
            if kids:
                self.leader = int(kids[0])
            elif self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.proc.returncode}: "
                                   f"{open(self.log_path).read()[-2000:]}")
            else:
                time.sleep(0.2)
        if self.leader is None:
            raise RuntimeError("systemd-nspawn started no container")
        state = ""
        while time.time() < deadline:
            state = self.run("systemctl is-system-running").stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise RuntimeError(f"the container did not finish booting: {state}")

    def run(self, command, cwd="/root", env=None, timeout=120):
        """Run a shell command line in the container, as root, from cwd."""
        e = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb", **(env or {})}
        argv = ["nsenter", "--target", str(self.leader), "--all", "--",
                "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in e.items()],
                "/bin/sh", "-c", f"cd {cwd} && {command}"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def path(self, p):
        """Where a file of the container is, seen from the host."""
        return os.path.join(self.root, p.lstrip("/"))

    def put(self, host_file, folder):
        """Copy a host file into a folder of the container (not /tmp, which
        is the container's own tmpfs); returns its path there."""
        os.makedirs(self.path(folder), exist_ok=True)
        shutil.copy(host_file, self.path(folder))
        return os.path.join(folder, os.path.basename(host_file))

    def close(self):
        if self.proc and self.proc.poll() is None:
            if self.leader:
                self.run("systemctl poweroff --no-block", timeout=30)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["umount", "--lazy", self.root], capture_output=True)
        subprocess.run(["umount", "--lazy", self.dir], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
