"""Build the optional compiled log scanner (src/vhostguard/logs/_scan.c).

Everything else is in pyproject.toml. ``optional=True``: without a C
compiler or Python headers the build of the extension fails quietly and
vhostguard installs without it; the pure-Python engine then runs, with the
same results (``vhostguard --version`` names the engine).
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vhostguard.logs._scan",
            ["src/vhostguard/logs/_scan.c"],
            py_limited_api=True,
            define_macros=[("Py_LIMITED_API", "0x030B0000")],
            # an undeclared function would build and then fail to import (the Python engine would run):
            # an error at build time instead
            extra_compile_args=["-O2", "-fno-fast-math", "-ffp-contract=off", "-Werror=implicit-function-declaration"],
            optional=True,
        ),
    ],
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
