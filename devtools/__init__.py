"""Development tools kept out of the product: the demo, the load generator, the fault proxy and the crash harness.

Not part of the `regies-federation` wheel: tests, benchmarks and `make demo` import it from the repository root.
"""
