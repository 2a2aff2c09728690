//! Runs one provider call under the retry policy, sleeping as it says.

use std::future::Future;

use bnpl_core::ConnectorError;
use bnpl_core::retry::RetryPolicy;

/// Calls `call` until it succeeds or the policy gives up; returns the result
/// and how many retries it took.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    mut call: F,
) -> (Result<T, ConnectorError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ConnectorError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(v) => return (Ok(v), attempt),
            Err(e) => match policy.delay_with_thread_rng(attempt, &e) {
                Some(wait) => {
                    tracing::debug!(error = %e, wait_ms = wait.as_millis() as u64, attempt, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return (Err(e), attempt),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_at_least_retry_after_then_succeeds() {
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let (result, retries) = with_retries(&RetryPolicy::default(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(ConnectorError::Retryable {
                    message: "429".into(),
                    retry_after: Some(Duration::from_secs(5)),
                    correlation_id: None,
                })
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(retries, 1);
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_policy_limit() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_retries: 3,
            ..RetryPolicy::default()
        };
        let (result, retries) = with_retries(&policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ConnectorError::retryable("503"))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(retries, 3);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_a_permanent_error() {
        let calls = AtomicU32::new(0);
        let (result, retries) = with_retries(&RetryPolicy::default(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ConnectorError::permanent("400"))
        })
        .await;
        assert!(result.is_err());
        assert_eq!((retries, calls.load(Ordering::SeqCst)), (0, 1));
    }
}
