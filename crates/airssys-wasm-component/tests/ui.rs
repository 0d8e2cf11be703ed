//! Compile-time checks of `component!`: misuse is a compile error that names what is wrong,
//! and a complete component compiles.

#[test]
fn macro_misuse_fails_to_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/not_a_component.rs");
    t.compile_fail("tests/ui/no_default.rs");
    t.compile_fail("tests/ui/missing_handle.rs");
    t.compile_fail("tests/ui/not_a_type.rs");
    t.pass("tests/ui/complete.rs");
}
