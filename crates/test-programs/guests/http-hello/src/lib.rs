//! The smallest `wasi:http/proxy` component (the `wasip2` crate, no AirsSys SDK): every
//! request gets `200 hello from wasi:http`. The HTTP benchmark's handler.

use std::io::Write as _;

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

wasip2::http::proxy::export!(Hello);

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let headers = Fields::new();
        let _ = headers.append("content-type", b"text/plain");
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(mut stream) = body.write() {
            let _ = stream.write_all(b"hello from wasi:http");
            let _ = stream.flush();
        }
        let _ = OutgoingBody::finish(body, None);
    }
}
