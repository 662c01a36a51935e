"""The optional compiled parts: the request loop (bocho/_fastpath.pyx), the RDB
keyspace walk (bocho/_rdbfast.pyx) and redis.call on lupa's Lua state
(bocho/_luabridge.pyx). Everything else about the package is in
pyproject.toml. Without Cython or a C compiler bocho installs anyway and runs its
pure-Python paths (INFO server: bocho_fastpath:python; rdb.py's own per-key loop)."""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # no Cython: pure-Python install
    ext_modules = []
else:
    ext_modules = cythonize(
        [Extension("bocho._fastpath", ["bocho/_fastpath.pyx"], optional=True),
         Extension("bocho._rdbfast", ["bocho/_rdbfast.pyx"], optional=True),
         Extension("bocho._luabridge", ["bocho/_luabridge.pyx"], optional=True)],
        compiler_directives={"language_level": "3"}, quiet=True)
    for ext in ext_modules:
        ext.optional = True  # a failed compile leaves the pure-Python path

setup(ext_modules=ext_modules)
