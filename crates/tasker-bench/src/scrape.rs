//! Reading the processes' own counters from their Prometheus `/metrics` text: the store's
//! statements and transactions (`tasker_store_statements_total`,
//! `tasker_store_transactions_total`), summed over every process of a run.

use anyhow::{Context, Result};

use crate::http::Conn;

/// The store's work so far in one process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct StoreWork {
    pub(crate) statements: f64,
    pub(crate) transactions: f64,
}

impl StoreWork {
    /// The work of a set of processes.
    pub(crate) fn sum(items: impl IntoIterator<Item = StoreWork>) -> StoreWork {
        items
            .into_iter()
            .fold(StoreWork::default(), |a, b| StoreWork {
                statements: a.statements + b.statements,
                transactions: a.transactions + b.transactions,
            })
    }

    /// `self - before`, never negative.
    pub(crate) fn since(self, before: StoreWork) -> StoreWork {
        StoreWork {
            statements: (self.statements - before.statements).max(0.0),
            transactions: (self.transactions - before.transactions).max(0.0),
        }
    }
}

/// The store counters of the process listening on `addr`.
pub(crate) async fn store_work(addr: &str) -> Result<StoreWork> {
    let mut conn = Conn::connect(addr).await?;
    let response = conn.get("/metrics").await?;
    if response.status != 200 {
        anyhow::bail!("GET /metrics of {addr} answered {}", response.status);
    }
    let text = String::from_utf8(response.body).context("/metrics is not UTF-8")?;
    Ok(StoreWork {
        statements: counter(&text, "tasker_store_statements_total"),
        transactions: counter(&text, "tasker_store_transactions_total"),
    })
}

/// The sum of every series of counter `name` in a Prometheus text document (0 when absent).
fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            // The name must end here: `name 3` or `name{labels} 3`.
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                return None;
            }
            rest.rsplit(' ').next()?.trim().parse::<f64>().ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_their_series_and_ignore_longer_names() {
        let text = "# TYPE tasker_store_statements_total counter\n\
                    tasker_store_statements_total 12\n\
                    tasker_store_statements_total{role=\"x\"} 3\n\
                    tasker_store_statements_total_other 100\n\
                    tasker_store_transactions_total 4\n";
        assert_eq!(counter(text, "tasker_store_statements_total"), 15.0);
        assert_eq!(counter(text, "tasker_store_transactions_total"), 4.0);
        assert_eq!(counter(text, "tasker_missing_total"), 0.0);
    }

    #[test]
    fn work_differences_and_sums() {
        let a = StoreWork {
            statements: 10.0,
            transactions: 2.0,
        };
        let b = StoreWork {
            statements: 25.0,
            transactions: 5.0,
        };
        assert_eq!(
            b.since(a),
            StoreWork {
                statements: 15.0,
                transactions: 3.0
            }
        );
        assert_eq!(a.since(b), StoreWork::default());
        assert_eq!(StoreWork::sum([a, b]).statements, 35.0);
    }
}
