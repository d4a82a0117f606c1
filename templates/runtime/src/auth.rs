{#- scaffold
when: uses.rest or uses.grpc_server
-#}
//! The authentication hook: one function of the team's, [`Authenticate`],
//! sees the headers of every request {% if uses.rest and uses.grpc_server %}(REST) or its metadata (gRPC, HTTP/2
//! headers too) {% elif uses.grpc_server %}(gRPC metadata: HTTP/2 headers) {% endif %}before any handler, and lets it through or refuses it.
//! A refused request never reaches a handler{% if uses.idempotency %}, nor the idempotency records{% endif %}:
{%- if uses.rest %}
//! a REST caller gets 401 with `WWW-Authenticate: Bearer` and the reason as
//! its JSON error ([`AuthLayer`], a tower layer around the router, the
//! probes excepted, whose check `runtime::guard` makes itself when no
//! CORS layer comes between them)
{%- endif %}
{%- if uses.rest and uses.grpc_server %};
{%- endif %}
{%- if uses.grpc_server %}
//! a gRPC caller gets `UNAUTHENTICATED` with the reason ([`interceptor`], a
//! tonic interceptor on each served service)
{%- endif %}.
//!
//! The probes (`/livez`, `/readyz`, `/healthz`){% if uses.grpc_server %}, gRPC health and reflection{% endif %} are
//! never checked: an orchestrator has no credentials. The check runs on the
//! request's task with no allocation when it passes, so a hook that accepts
//! costs a function call.

/// The headers of a request, as the hook sees them.
#[cfg(feature = "rest")]
pub use axum::http::HeaderMap;
#[cfg(all(feature = "grpc", not(feature = "rest")))]
pub use tonic::codegen::http::HeaderMap;

/// Why a request was refused: what the caller reads, so no secret in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthenticated(pub String);

impl std::fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unauthenticated {}

/// The team's check: `Ok` lets the request reach its handler.
pub type Authenticate = fn(&HeaderMap) -> Result<(), Unauthenticated>;
{%- if uses.rest %}

#[cfg(feature = "rest")]
pub use rest::{Auth, AuthFuture, AuthLayer};

#[cfg(feature = "rest")]
mod rest {
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use axum::{
        extract::Request,
        http::{HeaderValue, Method, StatusCode, header::WWW_AUTHENTICATE},
        response::Response,
    };
    use pin_project_lite::pin_project;
    use tower::{Layer, Service};

    use super::{Authenticate, Unauthenticated};
    use crate::error::error_response;

    /// Checks every request of the routes it wraps with `check`: 401 when
    /// it refuses.
    #[derive(Clone, Copy)]
    pub struct AuthLayer {
        check: Authenticate,
        except: &'static [&'static str],
    }

    impl AuthLayer {
        pub fn new(check: Authenticate) -> AuthLayer {
            AuthLayer { check, except: &[] }
        }

        /// Lets `GET` and `HEAD` requests for exactly these paths through
        /// unchecked (the probes, wrapped with the routes they are merged
        /// with); any other method on them is checked.
        #[must_use]
        pub fn except(self, paths: &'static [&'static str]) -> AuthLayer {
            AuthLayer {
                except: paths,
                ..self
            }
        }

        /// The answer to `request` when the check refuses it (401), `None`
        /// when it may go on: what [`Auth`] does, for a service in front of
        /// the routes that calls it itself (`runtime::guard`).
        #[inline]
        pub fn refusal(&self, request: &Request) -> Option<Response> {
            let probe = matches!(*request.method(), Method::GET | Method::HEAD)
                && self.except.contains(&request.uri().path());
            if probe {
                return None;
            }
            (self.check)(request.headers())
                .err()
                .map(|refused| unauthorized(&refused))
        }
    }

    impl<S> Layer<S> for AuthLayer {
        type Service = Auth<S>;

        fn layer(&self, inner: S) -> Auth<S> {
            Auth {
                inner,
                layer: *self,
            }
        }
    }

    /// The service of [`AuthLayer`].
    #[derive(Clone, Copy)]
    pub struct Auth<S> {
        inner: S,
        layer: AuthLayer,
    }

    impl<S> Service<Request> for Auth<S>
    where
        S: Service<Request, Response = Response>,
    {
        type Response = Response;
        type Error = S::Error;
        type Future = AuthFuture<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: Request) -> Self::Future {
            match self.layer.refusal(&request) {
                None => AuthFuture::Passed {
                    inner: self.inner.call(request),
                },
                Some(refusal) => AuthFuture::Refused {
                    response: Some(refusal),
                },
            }
        }
    }

    pin_project! {
        /// The future of [`Auth`]: the handler's, or the refusal.
        #[project = Projected]
        pub enum AuthFuture<F> {
            Passed { #[pin] inner: F },
            Refused { response: Option<Response> },
        }
    }

    impl<F, E> Future for AuthFuture<F>
    where
        F: Future<Output = Result<Response, E>>,
    {
        type Output = Result<Response, E>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            match self.project() {
                Projected::Passed { inner } => inner.poll(cx),
                Projected::Refused { response } => {
                    Poll::Ready(Ok(response.take().expect("polled after completion")))
                }
            }
        }
    }

    /// 401 with the reason as the JSON error, and the challenge RFC 9110
    /// requires with it.
    fn unauthorized(refused: &Unauthenticated) -> Response {
        let mut response = error_response(StatusCode::UNAUTHORIZED, &refused.0);
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}
{%- endif %}
{%- if uses.grpc_server %}

/// A tonic interceptor calling `check` with a call's metadata:
/// `UNAUTHENTICATED` when it refuses. Wrap a served service with it
/// (`InterceptedService::new(service, interceptor(check))`).
#[cfg(feature = "grpc")]
pub fn interceptor(
    check: Authenticate,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |request: tonic::Request<()>| match check(request.metadata().as_ref()) {
        Ok(()) => Ok(request),
        Err(refused) => Err(tonic::Status::unauthenticated(refused.0)),
    }
}
{%- endif %}

/// A hook that accepts every caller: what the generated tests of a service
/// run its handlers behind, so that they keep passing once the team's
/// `authenticate` checks real credentials (its own test plugs in a hook
/// that refuses).
pub fn accept_all(_headers: &HeaderMap) -> Result<(), Unauthenticated> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hook that wants `authorization: Bearer let-me-in`.
    fn bearer(headers: &HeaderMap) -> Result<(), Unauthenticated> {
        match headers.get("authorization").map(|v| v.to_str()) {
            Some(Ok("Bearer let-me-in")) => Ok(()),
            Some(_) => Err(Unauthenticated("the bearer token is not valid".into())),
            None => Err(Unauthenticated("no bearer token".into())),
        }
    }
{%- if uses.rest %}

    #[cfg(feature = "rest")]
    #[tokio::test]
    async fn a_refused_rest_request_gets_401_and_never_reaches_its_handler() {
        use std::sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        };

        use axum::{Router, body::Body, http::Request, routing::get};
        use tower::ServiceExt as _;

        let reached = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&reached);
        let app = Router::new()
            .route(
                "/orders",
                get(move || async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    "handled"
                }),
            )
            .layer(AuthLayer::new(bearer));

        let refused = app
            .clone()
            .oneshot(Request::get("/orders").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(refused.status(), axum::http::StatusCode::UNAUTHORIZED);
        assert_eq!(refused.headers()["www-authenticate"], "Bearer");
        let body = axum::body::to_bytes(refused.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"error":"no bearer token"}"#);
        assert_eq!(reached.load(Ordering::SeqCst), 0);

        let passed = app
            .oneshot(
                Request::get("/orders")
                    .header("authorization", "Bearer let-me-in")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(passed.status(), axum::http::StatusCode::OK);
        assert_eq!(reached.load(Ordering::SeqCst), 1);
    }
{%- endif %}
{%- if uses.grpc_server %}

    #[cfg(feature = "grpc")]
    #[test]
    fn the_interceptor_refuses_with_unauthenticated_and_lets_a_good_token_through() {
        let mut intercept = interceptor(bearer);
        let refused = intercept(tonic::Request::new(())).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert_eq!(refused.message(), "no bearer token");

        let mut request = tonic::Request::new(());
        let token = "Bearer let-me-in".parse().unwrap();
        request.metadata_mut().insert("authorization", token);
        assert!(intercept(request).is_ok());
    }
{%- endif %}

    #[test]
    fn accept_all_accepts_a_request_without_credentials() {
        assert_eq!(accept_all(&HeaderMap::new()), Ok(()));
        assert!(bearer(&HeaderMap::new()).is_err());
    }
}
