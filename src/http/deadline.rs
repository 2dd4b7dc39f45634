//! A deadline on reading a request body.
//!
//! actix-web bounds the time to receive a request's headers (`client_request_timeout`), not its
//! body: a client sending one byte every two seconds holds a connection, and a file descriptor,
//! for as long as it likes. Every request's payload is wrapped here in a stream that fails once
//! the deadline (counted from the request's arrival) passes; whatever the handler made of that
//! failure, the answer becomes 408, and the connection is closed, since the rest of the body
//! was never read.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;

/// Whether a request's body missed its deadline; shared by its payload and its answer.
#[derive(Clone, Default)]
pub struct Expired(Rc<Cell<bool>>);

impl Expired {
    fn get(&self) -> bool {
        self.0.get()
    }
}

/// Wraps the request's payload so that reading it fails once `within` has passed.
pub fn limit_body(req: &mut ServiceRequest, within: Duration) -> Expired {
    let expired = Expired::default();
    let inner = req.take_payload();
    let stream = BodyDeadline {
        inner,
        sleep: Box::pin(tokio::time::sleep_until(Instant::now() + within)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::from(
        Box::pin(stream) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    expired
}

/// The answer to a request whose body missed its deadline: 408 naming `body` (rendered by
/// `page` for a form, whose errors are pages: the pages are not this module's to draw), and the
/// connection closed; any other answer as it was.
pub fn answer(
    response: ServiceResponse<BoxBody>,
    expired: &Expired,
    within: Duration,
    page: impl FnOnce(ApiError) -> HttpResponse,
) -> ServiceResponse<BoxBody> {
    if !expired.get() {
        return response;
    }
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let error = ApiError::BodyTimeout { within };
    let mut replaced: HttpResponse = if is_page {
        page(error)
    } else {
        error.error_response()
    };
    replaced
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    let (request, _) = response.into_parts();
    ServiceResponse::new(request, replaced)
}

struct BodyDeadline {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
    expired: Expired,
}

impl Stream for BodyDeadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired.0.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
