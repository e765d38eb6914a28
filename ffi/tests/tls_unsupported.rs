//! A library built without TLS (`cargo test -p netcore-ffi
//! --no-default-features`): every TLS function exists and answers
//! `NC_EOPNOTSUPP` before it looks at its arguments.
#![cfg(not(feature = "tls"))]

use std::ptr::{null, null_mut};

use netcore::*;
use netcore_core::Error;

#[test]
fn without_tls_every_function_answers_eopnotsupp() {
    let no = Error::EOPNOTSUPP.code();
    assert_eq!(nc_tls_supported(), 0);
    // SAFETY: NULL pointers everywhere; the support check comes first.
    unsafe {
        assert_eq!(nc_tls_server_config_new(null(), null_mut()), no);
        assert_eq!(nc_tls_client_config_new(null(), null_mut()), no);
        assert_eq!(nc_listener_set_tls(null_mut(), 1, null()), no);
        assert_eq!(nc_start_tls_client(null_mut(), 1, null(), null()), no);
        assert_eq!(nc_start_tls_server(null_mut(), 1, null()), no);
        assert_eq!(nc_tls_info(null_mut(), 1, null_mut()), no);
        assert_eq!(nc_tls_peer_certificate(null_mut(), 1, 0, null_mut(), 0, null_mut()), no);
        assert_eq!(nc_tls_failure(null_mut(), 1, null_mut(), null_mut(), null_mut(), 0), no);
    }
}
