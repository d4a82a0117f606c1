//! The scaffold: from flows, recommendations and a contract to a plan of
//! `(path, contents)` pairs. Nothing here touches the disk; `commands::
//! scaffold` writes the plan, safely, through [`sync`].

pub mod context;
pub mod contract;
pub mod sync;
pub mod templates;

use crate::engine::evaluate::Report;
use crate::error::Error;
use crate::scaffold::contract::Contract;
use crate::scaffold::templates::{Owner, SERVICE_SEGMENT};
use crate::spec::model::FlowsFile;

/// Every file of the generated workspace, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldPlan {
    pub files: Vec<PlannedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Relative, '/'-separated, inside the output folder.
    pub path: String,
    pub contents: String,
    pub owner: Owner,
}

/// Renders every template for the flows. Same input, same bytes.
pub fn plan(
    flows: &FlowsFile,
    report: &Report,
    contract: &Contract,
    proto_source: &str,
) -> Result<ScaffoldPlan, Error> {
    let context = context::build(flows, report, contract);
    let (tera, templates) = templates::engine()?;
    let base = tera::Context::from_serialize(&context)
        .map_err(|e| Error::Internal(format!("template context: {e}")))?;
    let mut files = vec![PlannedFile {
        path: format!("proto/{}", contract.file),
        contents: proto_source.to_owned(),
        owner: Owner::Generated,
    }];
    for template in &templates {
        let targets: Vec<(String, tera::Context)> = if template.per_service {
            context
                .services
                .iter()
                .map(|service| {
                    let mut cx = base.clone();
                    cx.insert("service", service);
                    (template.output.replace(SERVICE_SEGMENT, &service.name), cx)
                })
                .collect()
        } else {
            vec![(template.output.clone(), base.clone())]
        };
        for (path, cx) in targets {
            if let Some(when) = &template.when {
                let test = format!("{{% if {when} %}}yes{{% endif %}}");
                let holds = tera::Tera::one_off(&test, &cx, false).map_err(|e| {
                    Error::Internal(format!(
                        "template `{}`: `when: {when}`: {}",
                        template.name,
                        templates::chain(&e)
                    ))
                })?;
                if holds != "yes" {
                    continue;
                }
            }
            let contents = tera.render(&template.name, &cx).map_err(|e| {
                Error::Internal(format!(
                    "template `{}` for `{path}`: {}",
                    template.name,
                    templates::chain(&e)
                ))
            })?;
            check_path(&path)?;
            files.push(PlannedFile {
                path,
                contents,
                owner: template.owner,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ScaffoldPlan { files })
}

/// Every planned path stays inside the output folder. Names are validated
/// long before this; this is the last line of defence.
fn check_path(path: &str) -> Result<(), Error> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains(':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "refusing to plan the unsafe path `{path}`"
        )))
    }
}
