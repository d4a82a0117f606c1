{#- scaffold
when: false
-#}
{#- The policies of the rpcs one service calls on `target` (rest_clients.rs and
grpc_clients.rs include it inside their loop over targets). -#}
/// The policy of each rpc {{ service.name }} calls on {{ target.name }}.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct {{ target.policies }} {
{%- for m in target.methods %}
    /// Flow `{{ m.flow }}`'s.
    pub {{ m.rpc.method }}: CallPolicy,
{%- endfor %}
}

impl Default for {{ target.policies }} {
    fn default() -> Self {
        Self {
{%- for m in target.methods %}
            {{ m.rpc.method }}: {{ m.flow_shouty }}_POLICY,
{%- endfor %}
        }
    }
}

impl {{ target.policies }} {
    /// Every rpc with `policy`.
    pub fn all(policy: CallPolicy) -> Self {
{%- if target.methods | length == 1 and target.methods[0].rpc.method | length <= 10 %}
        Self { {{ target.methods[0].rpc.method }}: policy }
{%- else %}
        Self {
{%- for m in target.methods %}
            {{ m.rpc.method }}: policy,
{%- endfor %}
        }
{%- endif %}
    }

    /// The default policies, each deadline overridden by its variable
    /// (`CallPolicy::deadline_var`) when `lookup` finds it set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, InvalidDeadline> {
        Ok(Self {
{%- for m in target.methods %}
            {{ m.rpc.method }}: {{ m.flow_shouty }}_POLICY.with_deadline_from(&lookup)?,
{%- endfor %}
        })
    }
}
