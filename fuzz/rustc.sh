#!/bin/sh
# The rustc that cargo uses for the fuzz build (set in .cargo/config.toml).
#
# The fuzz targets run real guest components: the test-programs crate's build script builds
# them for wasm32-wasip2 with a nested cargo, which inherits this rustc. The nightly
# toolchain that cargo-fuzz needs has no wasm32-wasip2 standard library here, so that nested
# build (recognised by its target directory) uses the stable toolchain, like the normal test
# build does; everything else is compiled by the toolchain cargo was started with.
case "$CARGO_TARGET_DIR" in
*/guests-target) exec rustup run stable rustc "$@" ;;
*) exec rustc "$@" ;;
esac
