//! [`Osl`]: an executor with its middleware, built with [`OslBuilder`].

use std::sync::Arc;

use crate::error::OslError;
use crate::executor::{Execute, TokioExecutor};
use crate::middleware::{Middleware, OpSummary};
use crate::ops::{Op, Operation, Output};
use crate::principal::{Context, Principal};

/// An executor behind an ordered middleware pipeline. Cheap to share by reference; cloning
/// shares the middleware and clones the executor.
#[derive(Debug, Clone)]
pub struct Osl<E = TokioExecutor> {
    executor: E,
    middleware: Arc<[Arc<dyn Middleware>]>,
}

/// Builds an [`Osl`].
#[derive(Debug)]
pub struct OslBuilder<E> {
    executor: E,
    middleware: Vec<Arc<dyn Middleware>>,
}

impl Osl<TokioExecutor> {
    /// Start building a pipeline around a [`TokioExecutor`], with no middleware yet.
    pub fn builder() -> OslBuilder<TokioExecutor> {
        OslBuilder { executor: TokioExecutor::new(), middleware: Vec::new() }
    }
}

impl<E> OslBuilder<E> {
    /// Use another executor.
    pub fn executor<F>(self, executor: F) -> OslBuilder<F> {
        OslBuilder { executor, middleware: self.middleware }
    }

    /// Add a middleware after those already added (its `before` runs later, its `after`
    /// earlier; see [`Middleware::runs_last`] for the exception).
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// The pipeline. Middleware that [`runs_last`](Middleware::runs_last) is moved after
    /// the others (keeping their relative order).
    pub fn build(mut self) -> Osl<E> {
        self.middleware.sort_by_key(|m| m.runs_last());
        Osl { executor: self.executor, middleware: self.middleware.into() }
    }
}

impl<E> Osl<E> {
    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// Run `op` for `principal` through every middleware and the executor.
    pub async fn run<O>(&self, principal: &Principal, op: O) -> Result<O::Output, OslError>
    where
        O: Operation,
        E: Execute<O>,
    {
        let ctx = Context::new(principal.clone());
        let mut op: Op = op.into();
        let mut refusal = None;
        for (i, middleware) in self.middleware.iter().enumerate() {
            if let Err(e) = middleware.before(&ctx, &mut op) {
                refusal = Some((i, e));
                break;
            }
        }
        let summary = OpSummary { name: op.name(), resources: op.describe() };
        if let Some((i, error)) = refusal {
            for middleware in self.middleware[..=i].iter().rev() {
                middleware.after(&ctx, &summary, Err(&error));
            }
            return Err(error);
        }
        let op = O::try_from(op)
            .map_err(|other| OslError::KindChanged { from: O::NAME, to: other.name() })?;
        let result = self.executor.execute(op, &ctx).await;
        if self.middleware.is_empty() {
            return result;
        }
        match result {
            Ok(output) => {
                let output: Output = output.into();
                for middleware in self.middleware.iter().rev() {
                    middleware.after(&ctx, &summary, Ok(&output));
                }
                O::Output::try_from(output)
                    .map_err(|_| OslError::NotSupported("an output of another operation"))
            }
            Err(error) => {
                for middleware in self.middleware.iter().rev() {
                    middleware.after(&ctx, &summary, Err(&error));
                }
                Err(error)
            }
        }
    }
}
