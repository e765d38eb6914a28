//! Gives the shared library its soname, so programs link against `libnetcore.so.0`.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnetcore.so.0");
}
