//! Counts DynamoDB requests and the capacity they consume, per operation, through an SDK
//! interceptor on the local server's client. Tests use it to hold every endpoint to a request
//! budget; `docs/request-budgets.md` is generated from the same numbers.
//!
//! The interceptor asks for `ReturnConsumedCapacity = TOTAL` on every data-plane call, so the
//! engine reports read and write units, and records one [`Call`] per HTTP attempt (a retried
//! request counts twice: it costs twice).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// One DynamoDB request as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Operation name, e.g. `GetItem`.
    pub operation: String,
    /// Read capacity units consumed (0 when the engine did not say).
    pub read_units: f64,
    /// Write capacity units consumed (0 when the engine did not say).
    pub write_units: f64,
    /// A read of the caller's session epoch (`keel::store::SESSION_PROJECTION`), which a
    /// function makes at most once per user every `keel::auth::SESSION_RECHECK`, not per
    /// request: budgets count it apart.
    pub session_check: bool,
}

/// Shared record of calls. Clone it into the client config and keep one to read.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    calls: Arc<Mutex<Vec<Call>>>,
}

#[derive(Debug, Clone, Copy)]
struct FirstCall(usize);

#[derive(Debug, Clone, Copy)]
struct SessionCheck;

impl Storable for SessionCheck {
    type Storer = StoreReplace<Self>;
}

impl Storable for FirstCall {
    type Storer = StoreReplace<Self>;
}

impl Meter {
    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("meter lock").clone()
    }

    /// How many calls so far; with [`Meter::calls_since`], brackets one API request.
    pub fn mark(&self) -> usize {
        self.calls.lock().expect("meter lock").len()
    }

    /// The calls after `mark`.
    pub fn calls_since(&self, mark: usize) -> Vec<Call> {
        self.calls.lock().expect("meter lock")[mark..].to_vec()
    }
}

macro_rules! ask_for_capacity {
    ($input:expr, $($ty:ty),*) => {
        $(if let Some(input) = $input.downcast_mut::<$ty>() {
            input.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
        })*
    };
}

fn units(capacity: &[&ConsumedCapacity], writes: bool) -> (f64, f64) {
    let mut read = 0.0;
    let mut write = 0.0;
    for c in capacity {
        let total = c.capacity_units().unwrap_or(0.0);
        match (c.read_capacity_units(), c.write_capacity_units()) {
            (Some(r), Some(w)) if r + w > 0.0 => {
                read += r;
                write += w;
            }
            _ if writes => write += total,
            _ => read += total,
        }
    }
    (read, write)
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "keel-meter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        if input
            .downcast_ref::<GetItemInput>()
            .is_some_and(|get| get.projection_expression() == Some(keel::store::SESSION_PROJECTION))
        {
            cfg.interceptor_state().store_put(SessionCheck);
        }
        ask_for_capacity!(
            input,
            GetItemInput,
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            QueryInput,
            BatchGetItemInput,
            BatchWriteItemInput,
            TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        let mut calls = self.calls.lock().expect("meter lock");
        if cfg.load::<FirstCall>().is_none() {
            cfg.interceptor_state().store_put(FirstCall(calls.len()));
        }
        calls.push(Call {
            operation,
            read_units: 0.0,
            write_units: 0.0,
            session_check: cfg.load::<SessionCheck>().is_some(),
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Ok(output)) = context.output_or_error() else {
            return Ok(());
        };
        let (read, write) = if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            units(&single(o.consumed_capacity()), false)
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            units(&single(o.consumed_capacity()), false)
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            units(&o.consumed_capacity().iter().collect::<Vec<_>>(), false)
        } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            units(&single(o.consumed_capacity()), true)
        } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            units(&single(o.consumed_capacity()), true)
        } else if let Some(o) = output.downcast_ref::<DeleteItemOutput>() {
            units(&single(o.consumed_capacity()), true)
        } else if let Some(o) = output.downcast_ref::<BatchWriteItemOutput>() {
            units(&o.consumed_capacity().iter().collect::<Vec<_>>(), true)
        } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
            units(&o.consumed_capacity().iter().collect::<Vec<_>>(), true)
        } else {
            (0.0, 0.0)
        };
        // The last attempt of this execution is the one that produced the output.
        let mut calls = self.calls.lock().expect("meter lock");
        let Some(first) = cfg.load::<FirstCall>().map(|f| f.0) else {
            return Ok(());
        };
        let operation = calls.get(first).map(|c| c.operation.clone());
        if let Some(call) = calls
            .iter_mut()
            .skip(first)
            .rev()
            .find(|c| Some(&c.operation) == operation.as_ref())
        {
            call.read_units = read;
            call.write_units = write;
        }
        Ok(())
    }
}

fn single(capacity: Option<&ConsumedCapacity>) -> Vec<&ConsumedCapacity> {
    capacity.into_iter().collect()
}
