//! A ROS 2 node on ros2-client: identity, ROS args, parameters, clock, and typed endpoints.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use mbarl_ros::{NodeBuilder, ParamSpec, Qos, RosArgs};
//! use mbarl_msgs::std_msgs::String as StringMsg;
//! let (_, args) = RosArgs::from_env()?;
//! let node = NodeBuilder::new("talker")
//!     .ros_args(args)
//!     .param(ParamSpec::new("rate_hz", 10.0, "publish rate"))
//!     .build()?;
//! let chatter = node.publisher::<StringMsg>("chatter", Qos::DEFAULT)?;
//! chatter.publish(StringMsg { data: "hello".into() })?;
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mbarl_msgs::builtin_interfaces::Time;
use mbarl_msgs::rosgraph_msgs::Clock;
use mbarl_msgs::{RosMessage, RosService};
use ros2_client::{
    Context, ContextOptions, MessageTypeName, Name, NodeName, NodeOptions, ServiceMapping,
    ServiceTypeName,
};
use thiserror::Error;
use tokio::sync::broadcast;

use crate::args::{ArgsError, RosArgs};
use crate::counters::Counters;
use crate::names::{NameError, NodeIdentity};
use crate::params::{
    ParamError, ParamKind, ParamSpec, ParameterValue, ResolvedParam, load_params_file,
    resolve_params,
};
use crate::pubsub::{Publisher, Subscriber};
use crate::qos::{self, Qos};
use crate::service::{ServiceClient, ServiceServer, Wire};

#[derive(Debug, Error)]
pub enum TransportError {
    #[error(transparent)]
    Args(#[from] ArgsError),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("ROS_DOMAIN_ID=`{0}` is not a domain id (0-232)")]
    DomainId(String),
    #[error("cannot create {what}: {reason}")]
    Create { what: String, reason: String },
    #[error("cannot send on {topic}: {reason}")]
    Write { topic: String, reason: String },
    #[error("cannot receive on {topic}: {reason}")]
    Read { topic: String, reason: String },
    #[error("{what} timed out after {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("parameter `{name}` is {found}, not {expected}")]
    ParamType {
        name: String,
        expected: &'static str,
        found: String,
    },
    #[error("no parameter `{0}` is declared")]
    NoParam(String),
    #[error("mbarl-ros nodes must be built inside a tokio runtime")]
    NoRuntime,
}

/// Builds a [`RosNode`].
pub struct NodeBuilder {
    name: String,
    namespace: String,
    specs: Vec<ParamSpec>,
    args: RosArgs,
    rosout: bool,
    domain_id: Option<u16>,
    about: Option<String>,
}

impl NodeBuilder {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            namespace: "/".into(),
            specs: Vec::new(),
            args: RosArgs::default(),
            rosout: true,
            domain_id: None,
            about: None,
        }
    }

    /// What the node does, for `NODE --help`: with it, [`NodeBuilder::build`] prints this and
    /// the declared parameters and exits (status 0) when the program's arguments ask for help,
    /// before it joins a domain or the node touches anything.
    pub fn about(mut self, text: &str) -> Self {
        self.about = Some(text.into());
        self
    }

    /// Joins this DDS domain instead of `ROS_DOMAIN_ID`'s (tests use it to run in isolation).
    pub fn domain_id(mut self, id: u16) -> Self {
        self.domain_id = Some(id);
        self
    }

    /// The default namespace (`-r __ns:=/x` overrides it).
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = ns.into();
        self
    }

    /// The parsed `--ros-args` of the process.
    pub fn ros_args(mut self, args: RosArgs) -> Self {
        self.args = args;
        self
    }

    /// Declares a parameter.
    pub fn param(mut self, spec: ParamSpec) -> Self {
        self.specs.push(spec);
        self
    }

    pub fn params(mut self, specs: impl IntoIterator<Item = ParamSpec>) -> Self {
        self.specs.extend(specs);
        self
    }

    /// Publish log records on `/rosout` too (default true).
    pub fn rosout(mut self, on: bool) -> Self {
        self.rosout = on;
        self
    }

    /// Resolves name, namespace and parameters, joins the DDS domain and starts the node's
    /// background tasks (graph, parameter services, `/clock`). Must run inside a tokio runtime.
    pub fn build(mut self) -> Result<RosNode, TransportError> {
        if let Some(about) = &self.about
            && crate::help::requested(std::env::args().skip(1))
        {
            print!("{}", crate::help::text(&self.name, about, &self.specs));
            std::process::exit(0);
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TransportError::NoRuntime)?;
        let name = self
            .args
            .node_name_override(&self.name)
            .unwrap_or(&self.name)
            .to_string();
        let namespace = self
            .args
            .namespace_override(&self.name)
            .unwrap_or(&self.namespace)
            .to_string();
        let identity = NodeIdentity::new(&namespace, &name)?;

        if !self.specs.iter().any(|s| s.name == "use_sim_time") {
            self.specs.push(ParamSpec::new(
                "use_sim_time",
                false,
                "use /clock (simulation time) instead of the system clock",
            ));
        }
        let mut blocks = Vec::new();
        for file in &self.args.params_files {
            blocks.extend(load_params_file(file)?);
        }
        let resolved = resolve_params(
            &self.specs,
            &identity.fully_qualified(),
            &identity.name,
            &blocks,
            &self.args.params,
        )?;

        let context =
            Context::with_options(ContextOptions::new().domain_id(match self.domain_id {
                Some(id) => id,
                None => domain_id_from_env()?,
            }))
            .map_err(|e| create_err("DDS participant", e))?;

        let (param_tx, _) = broadcast::channel(64);
        let kinds: Vec<(String, ParamKind)> = self
            .specs
            .iter()
            .map(|s| (s.name.clone(), s.kind))
            .collect();
        let tx = param_tx.clone();
        let mut options = NodeOptions::new()
            .enable_rosout(self.rosout)
            .parameter_validator(Box::new(move |name, value| check_kind(&kinds, name, value)))
            .parameter_set_action(Box::new(move |name, value| {
                let _ = tx.send(ParamChange {
                    name: name.to_string(),
                    value: value.clone(),
                });
                Ok(())
            }));
        for p in &resolved {
            options = options.declare_parameter(&p.name, p.value.clone());
        }
        let node_name = NodeName::new(&identity.namespace, &identity.name)
            .map_err(|e| create_err(&format!("node {}", identity.fully_qualified()), e))?;
        let mut node = context
            .new_node(node_name, options)
            .map_err(|e| create_err("node", e))?;
        let spinner = node.spinner().map_err(|e| create_err("node spinner", e))?;
        // ros2-client's Spinner drops its Context before its parameter servers; if that were the
        // last Context, the servers' endpoints would outlive the DDS participant and log errors
        // at shutdown. Keeping a Context in the task, declared first, makes it drop last.
        let keep_participant = context.clone();
        runtime.spawn(async move {
            let _keep_participant = keep_participant;
            if let Err(e) = spinner.spin().await {
                tracing::error!("ROS node background task stopped: {e:?}");
            }
        });

        let handle = NodeHandle(Arc::new(NodeShared {
            node: Mutex::new(node),
            context,
            identity,
            args: self.args,
            counters: Counters::default(),
            sim_time_ns: AtomicI64::new(0),
        }));
        for p in &resolved {
            tracing::debug!(node = %handle.0.identity.fully_qualified(), "parameter {} = {:?} (from {})", p.name, p.value, p.source);
        }
        let node = RosNode {
            handle,
            resolved,
            param_tx,
        };
        node.start_clock()?;
        let counters = node.counters().clone();
        runtime.spawn(crate::counters::log_changes(counters, counter_log_period()));
        Ok(node)
    }
}

/// How often a node logs its counters (only when they changed): `$MBARL_COUNTER_LOG_PERIOD_S`
/// seconds (≥ 0.1), else 30 s. An unreadable value is warned about and the default used.
fn counter_log_period() -> std::time::Duration {
    const DEFAULT_S: f64 = 30.0;
    let s = match std::env::var("MBARL_COUNTER_LOG_PERIOD_S") {
        Err(_) => DEFAULT_S,
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.1 => s,
            _ => {
                tracing::warn!(
                    "MBARL_COUNTER_LOG_PERIOD_S=`{v}` is not a period ≥ 0.1 s: logging counters every {DEFAULT_S} s"
                );
                DEFAULT_S
            }
        },
    };
    std::time::Duration::from_secs_f64(s)
}

fn create_err(what: &str, e: impl std::fmt::Debug) -> TransportError {
    TransportError::Create {
        what: what.to_string(),
        reason: format!("{e:?}"),
    }
}

/// `ROS_DOMAIN_ID` (default 0). ros2-client's `Context::new()` ignores it, so we read it here.
pub fn domain_id_from_env() -> Result<u16, TransportError> {
    match std::env::var("ROS_DOMAIN_ID") {
        Ok(v) if v.trim().is_empty() => Ok(0),
        Ok(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|d| *d <= 232)
            .ok_or(TransportError::DomainId(v)),
        Err(_) => Ok(0),
    }
}

fn check_kind(
    kinds: &[(String, ParamKind)],
    name: &str,
    value: &ParameterValue,
) -> Result<(), String> {
    match (kinds.iter().find(|(n, _)| n == name), ParamKind::of(value)) {
        (Some((_, expected)), Some(found)) if *expected != found => Err(format!(
            "parameter '{name}' is of type {expected}, not {found}"
        )),
        _ => Ok(()),
    }
}

/// A parameter changed at run time (e.g. through `ros2 param set`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamChange {
    pub name: String,
    pub value: ParameterValue,
}

pub(crate) struct NodeShared {
    node: Mutex<ros2_client::Node>,
    context: Context,
    identity: NodeIdentity,
    args: RosArgs,
    counters: Counters,
    sim_time_ns: AtomicI64,
}

/// Shared access to the ros2-client node, for endpoints that need it (matching counts).
#[derive(Clone)]
pub(crate) struct NodeHandle(Arc<NodeShared>);

impl NodeHandle {
    pub(crate) fn with_node<T>(&self, f: impl FnOnce(&mut ros2_client::Node) -> T) -> T {
        let mut node = self.0.node.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut node)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.0.counters
    }

    /// A server exists when someone reads requests and someone writes replies for `name`.
    pub(crate) fn service_is_ready(&self, name: &str) -> bool {
        let dp = self.0.context.domain_participant();
        let rq = format!("rq{name}Request");
        let rr = format!("rr{name}Reply");
        let readers = dp
            .discovered_readers()
            .iter()
            .any(|r| r.subscription_topic_data.topic_name() == &rq);
        let writers = dp
            .discovered_writers()
            .iter()
            .any(|w| w.publication_topic_data.topic_name == rr);
        readers && writers
    }
}

/// A running ROS 2 node.
pub struct RosNode {
    handle: NodeHandle,
    resolved: Vec<ResolvedParam>,
    param_tx: broadcast::Sender<ParamChange>,
}

impl RosNode {
    pub fn name(&self) -> &str {
        &self.handle.0.identity.name
    }

    pub fn namespace(&self) -> &str {
        &self.handle.0.identity.namespace
    }

    pub fn fully_qualified_name(&self) -> String {
        self.handle.0.identity.fully_qualified()
    }

    /// The DDS domain the node joined.
    pub fn domain_id(&self) -> u16 {
        self.handle.0.context.domain_id()
    }

    /// Expands and remaps a topic or service name as this node sees it.
    pub fn resolve_name(&self, name: &str) -> Result<String, TransportError> {
        Ok(self
            .handle
            .0
            .identity
            .resolve(name, &self.handle.0.args.remaps)?)
    }

    /// Counters of dropped and rejected inputs (`dropped.<topic>`, plus any the node adds).
    pub fn counters(&self) -> &Counters {
        self.handle.counters()
    }

    fn ros_name(&self, name: &str) -> Result<(String, Name), TransportError> {
        let full = self.resolve_name(name)?;
        let (ns, base) = full.rsplit_once('/').unwrap_or(("", &full));
        let ns = if ns.is_empty() { "/" } else { ns };
        let ros = Name::new(ns, base).map_err(|e| create_err(&format!("name {full}"), e))?;
        Ok((full, ros))
    }

    pub fn publisher<M: RosMessage>(
        &self,
        topic: &str,
        qos: Qos,
    ) -> Result<Publisher<M>, TransportError> {
        let (full, name) = self.ros_name(topic)?;
        let profile = qos.profile();
        let inner = self.handle.with_node(|n| {
            let t = n.create_topic(&name, MessageTypeName::new(M::PACKAGE, M::NAME), &profile)?;
            n.create_publisher::<M>(&t, Some(profile.clone()))
        });
        let inner = inner.map_err(|e| create_err(&format!("publisher {full}"), e))?;
        Ok(Publisher::new(inner, full, self.handle.clone()))
    }

    pub fn subscriber<M: RosMessage>(
        &self,
        topic: &str,
        qos: Qos,
    ) -> Result<Subscriber<M>, TransportError> {
        let (full, name) = self.ros_name(topic)?;
        let profile = qos.profile();
        let inner = self.handle.with_node(|n| {
            let t = n.create_topic(&name, MessageTypeName::new(M::PACKAGE, M::NAME), &profile)?;
            n.create_subscription::<M>(&t, Some(profile.clone()))
        });
        let inner = inner.map_err(|e| create_err(&format!("subscriber {full}"), e))?;
        Ok(Subscriber::new(inner, full, self.handle.clone()))
    }

    pub fn service_server<S: RosService>(
        &self,
        service: &str,
    ) -> Result<ServiceServer<S>, TransportError> {
        let (full, name) = self.ros_name(service)?;
        let ty = ServiceTypeName::new(S::PACKAGE, S::NAME);
        let inner = self.handle.with_node(|n| {
            n.create_server::<Wire<S::Request>, Wire<S::Response>>(
                ServiceMapping::Enhanced,
                &name,
                &ty,
                qos::services(),
                qos::services(),
            )
        });
        let inner = inner.map_err(|e| create_err(&format!("service server {full}"), e))?;
        Ok(ServiceServer::new(inner, full, &self.handle))
    }

    pub fn service_client<S: RosService>(
        &self,
        service: &str,
    ) -> Result<ServiceClient<S>, TransportError> {
        let (full, name) = self.ros_name(service)?;
        let ty = ServiceTypeName::new(S::PACKAGE, S::NAME);
        let inner = self.handle.with_node(|n| {
            n.create_client::<Wire<S::Request>, Wire<S::Response>>(
                ServiceMapping::Enhanced,
                &name,
                &ty,
                qos::services(),
                qos::services(),
            )
        });
        let inner = inner.map_err(|e| create_err(&format!("service client {full}"), e))?;
        Ok(ServiceClient::new(inner, full, self.handle.clone()))
    }

    /// The current value of a declared parameter (live: includes changes made through the
    /// parameter services).
    pub fn param_value(&self, name: &str) -> Option<ParameterValue> {
        self.handle.with_node(|n| n.get_parameter(name))
    }

    /// The current value of a declared parameter, typed.
    pub fn param<T: FromParam>(&self, name: &str) -> Result<T, TransportError> {
        let value = self
            .param_value(name)
            .ok_or_else(|| TransportError::NoParam(name.into()))?;
        T::from_param(&value).ok_or_else(|| TransportError::ParamType {
            name: name.into(),
            expected: T::KIND,
            found: format!("{value:?}"),
        })
    }

    /// Sets a declared parameter (type must match), as the parameter services would.
    pub fn set_param(&self, name: &str, value: ParameterValue) -> Result<(), TransportError> {
        self.handle
            .with_node(|n| n.set_parameter(name, value))
            .map_err(|reason| TransportError::Create {
                what: format!("parameter {name}"),
                reason,
            })
    }

    /// The start-up values and where each came from (default, file, command line).
    pub fn startup_params(&self) -> &[ResolvedParam] {
        &self.resolved
    }

    /// Changes to parameters after start-up.
    pub fn param_changes(&self) -> broadcast::Receiver<ParamChange> {
        self.param_tx.subscribe()
    }

    /// Is `use_sim_time` on?
    pub fn use_sim_time(&self) -> bool {
        self.param::<bool>("use_sim_time").unwrap_or(false)
    }

    /// The node's clock: `/clock` when `use_sim_time` is on (zero until the first tick), else
    /// the system clock.
    pub fn now(&self) -> Time {
        let ns = if self.use_sim_time() {
            self.handle.0.sim_time_ns.load(Ordering::Relaxed)
        } else {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0)
        };
        Time::from_nanos(ns)
    }

    /// Waits until `/clock` has ticked at least once (immediately when not on sim time).
    pub async fn wait_for_clock(&self, timeout: Duration) -> bool {
        let shared = self.handle.0.clone();
        let use_sim = self.use_sim_time();
        crate::pubsub::wait_until(timeout, || {
            !use_sim || shared.sim_time_ns.load(Ordering::Relaxed) > 0
        })
        .await
    }

    /// Follows `/clock` once `use_sim_time` is on (at start-up, or when set later).
    fn start_clock(&self) -> Result<(), TransportError> {
        if self.use_sim_time() {
            return self.subscribe_clock();
        }
        let mut changes = self.param_changes();
        let this = RosNode {
            handle: self.handle.clone(),
            resolved: Vec::new(),
            param_tx: self.param_tx.clone(),
        };
        tokio::spawn(async move {
            while let Ok(change) = changes.recv().await {
                if change.name == "use_sim_time" && change.value == ParameterValue::Boolean(true) {
                    if let Err(e) = this.subscribe_clock() {
                        tracing::error!("cannot follow /clock: {e}");
                    }
                    return;
                }
            }
        });
        Ok(())
    }

    fn subscribe_clock(&self) -> Result<(), TransportError> {
        // rosgraph_msgs/Clock. ros2-client's own /clock reader declares builtin_interfaces/Time,
        // which Fast DDS publishers do not match, so the node keeps its own reader (RustDDS then
        // logs one "Inconsistent topic update" for /clock; it is harmless).
        let clock = self.subscriber::<Clock>("/clock", Qos::SensorData)?;
        let shared = self.handle.0.clone();
        tokio::spawn(async move {
            while let Some(msg) = clock.recv().await {
                shared
                    .sim_time_ns
                    .store(msg.clock.to_nanos(), Ordering::Relaxed);
            }
        });
        Ok(())
    }
}

/// Rust types readable from a parameter value.
pub trait FromParam: Sized {
    const KIND: &'static str;
    fn from_param(v: &ParameterValue) -> Option<Self>;
}

macro_rules! from_param {
    ($($t:ty, $kind:literal, $variant:ident);* $(;)?) => {$(
        impl FromParam for $t {
            const KIND: &'static str = $kind;
            fn from_param(v: &ParameterValue) -> Option<Self> {
                match v { ParameterValue::$variant(x) => Some(x.clone()), _ => None }
            }
        }
    )*};
}

from_param! {
    bool, "bool", Boolean;
    i64, "integer", Integer;
    String, "string", String;
    Vec<bool>, "bool array", BooleanArray;
    Vec<i64>, "integer array", IntegerArray;
    Vec<f64>, "double array", DoubleArray;
    Vec<String>, "string array", StringArray;
    Vec<u8>, "byte array", ByteArray;
}

impl FromParam for f64 {
    const KIND: &'static str = "double";
    fn from_param(v: &ParameterValue) -> Option<Self> {
        match v {
            ParameterValue::Double(x) => Some(*x),
            ParameterValue::Integer(x) => Some(*x as f64),
            _ => None,
        }
    }
}
