import harness


def test_all_is_sorted_and_complete() -> None:
    assert harness.__all__ == sorted(harness.__all__)
    for name in harness.__all__:
        assert hasattr(harness, name), name


def test_importing_harness_does_not_import_locust_or_gevent() -> None:
    import subprocess
    import sys

    code = "import sys, harness; print('locust' in sys.modules or 'gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
