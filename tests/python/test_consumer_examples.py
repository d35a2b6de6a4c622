"""The JavaScript and Go consumer examples (examples/consumers/js, examples/consumers/go) against
the emulator: each runs its own tests (node's test runner, `go test`) against the token the
rotator wrote, with the official SDK of its language. The emulator's CA reaches them the standard
way (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE). A missing toolchain fails the test, never skips it."""

import os
import subprocess

from emulator_world import JS_EXAMPLE, REPO, javascript_example_installed, tool


def run(argv: list[str], cwd, env: dict) -> None:
    done = subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    print(done.stdout)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"


def test_the_javascript_example(world):
    node = javascript_example_installed()
    env = {"EMULATOR_INFO": world["info_file"], "NODE_EXTRA_CA_CERTS": world["ca_cert"]}
    run([node, "--test", "consumer.test.mjs"], JS_EXAMPLE, env)


def test_the_go_example(world):
    env = {"EMULATOR_INFO": world["info_file"], "SSL_CERT_FILE": world["ca_cert"]}
    run([tool("go"), "test", "-count=1", "-v", "./..."], REPO / "examples" / "consumers" / "go", env)
