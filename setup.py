"""Build the compiled entropy codec (a plain C extension, no third-party build tool)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dctredact.jpeg._entropy",
            sources=["src/dctredact/jpeg/_entropy.c"],
            extra_compile_args=["-O2", "-std=c99"],
        )
    ]
)
