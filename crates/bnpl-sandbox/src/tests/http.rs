//! The HTTP contract, served on a loopback port and called with reqwest.

use super::*;

struct Api {
    http: reqwest::Client,
    base: String,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn code(&self) -> String {
        let v = self.json();
        let cid = self.headers["x-correlation-id"].to_str().unwrap();
        assert_eq!(v["correlation_id"], cid, "body and header correlation ids");
        assert!(
            v["error_messages"]
                .as_array()
                .is_some_and(|m| !m.is_empty())
        );
        v["error_code"].as_str().unwrap().to_owned()
    }
}

impl Api {
    async fn start(sb: &Sandbox) -> (Api, crate::RunningSandbox) {
        let running = sb.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        assert!(running.base_url.starts_with("http://127.0.0.1:"));
        assert!(!running.base_url.ends_with('/'));
        let api = Api {
            http: reqwest::Client::new(),
            base: running.base_url.clone(),
        };
        (api, running)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        assert!(headers.contains_key("x-correlation-id"));
        let text = resp.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    async fn refresh(&self, rt: &str, device: &str) -> Reply {
        self.send(
            self.http
                .post(format!("{}/auth/v1/token/refresh", self.base))
                .json(&json!({ "refresh_token": rt, "device_id": device })),
        )
        .await
    }

    async fn get(&self, path: &str, token: &str, device: &str) -> Reply {
        self.send(
            self.http
                .get(format!("{}{}", self.base, path))
                .bearer_auth(token)
                .header("X-Device-Id", device),
        )
        .await
    }

    async fn post_admin(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.post(format!("{}{}", self.base, path)).json(&body))
            .await
    }

    /// Walks a stream to its end; all rows in order and the final cursor.
    async fn walk(
        &self,
        stream: Stream,
        token: &str,
        device: &str,
        mut cursor: Option<String>,
        page_size: usize,
    ) -> (Vec<Value>, String) {
        let mut rows = Vec::new();
        loop {
            let mut path = format!("{}?page_size={page_size}", stream.path());
            if let Some(c) = &cursor {
                path.push_str(&format!("&updated_after={c}"));
            }
            let r = self.get(&path, token, device).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let v = r.json();
            let page = v[stream.key()].as_array().unwrap().clone();
            let next = v["next_cursor"]
                .as_str()
                .expect("next_cursor never null")
                .to_owned();
            assert!(page.len() <= page_size);
            if page.is_empty() {
                if let Some(c) = &cursor {
                    assert_eq!(&next, c, "empty page echoes the cursor");
                }
                return (rows, next);
            }
            rows.extend(page);
            cursor = Some(next);
        }
    }
}

fn state_key(stream: Stream) -> &'static str {
    match stream {
        Stream::Purchases => "purchases",
        Stream::Card => "card_transactions",
        Stream::Balance => "balance_entries",
        Stream::Points => "points_entries",
        Stream::Deliveries => "deliveries",
    }
}

fn order_key(r: &Value) -> (String, String) {
    (s(&r["updated_at"]).to_owned(), s(&r["id"]).to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_kills_the_old_token() {
    let sb = small();
    let (api, running) = Api::start(&sb).await;
    let c = sb.credentials()[0].clone();

    let r = api.refresh(&c.refresh_token, "dev_wrong").await;
    assert_eq!((r.status, r.code().as_str()), (403, "DEVICE_MISMATCH"));

    let r = api.refresh(&c.refresh_token, &c.device_id).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["expires_in"], 1800);
    let at1 = s(&v["access_token"]).to_owned();
    let rt1 = s(&v["refresh_token"]).to_owned();
    assert!(at1.starts_with("at_") && rt1.starts_with("rt_"));
    assert_ne!(rt1, c.refresh_token);
    assert_eq!(sb.credentials()[0].refresh_token, rt1);

    let r = api.refresh(&c.refresh_token, &c.device_id).await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_GRANT"));

    let r = api.refresh(&rt1, &c.device_id).await;
    assert_eq!(r.status, 200);
    let at2 = s(&r.json()["access_token"]).to_owned();

    // Both access tokens stay valid until they expire.
    for at in [&at1, &at2] {
        let r = api.get("/consumer/v2/profile", at, &c.device_id).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["account_id"], c.account_id.as_str());
    }

    // Another account's refresh token with this device is a mismatch.
    let other = sb.credentials()[1].clone();
    let r = api.refresh(&other.refresh_token, &c.device_id).await;
    assert_eq!((r.status, r.code().as_str()), (403, "DEVICE_MISMATCH"));

    let r = api
        .send(
            api.http
                .post(format!("{}/auth/v1/token/refresh", api.base))
                .body("not json"),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_calls_check_headers_token_and_device() {
    let sb = small();
    let (api, running) = Api::start(&sb).await;
    let c = sb.credentials()[0].clone();
    let at =
        s(&api.refresh(&c.refresh_token, &c.device_id).await.json()["access_token"]).to_owned();

    let url = format!("{}/consumer/v2/purchases", api.base);
    let r = api
        .send(api.http.get(&url).header("X-Device-Id", &c.device_id))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"));
    let r = api.send(api.http.get(&url).bearer_auth(&at)).await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"));
    let r = api.get("/consumer/v2/purchases", &at, "dev_other").await;
    assert_eq!((r.status, r.code().as_str()), (403, "DEVICE_MISMATCH"));
    let r = api
        .get("/consumer/v2/purchases", "at_bogus", &c.device_id)
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_AUTH_TOKEN"));

    // Snapshots match state().
    let st = sb.state(&c.account_id).unwrap();
    for (path, key) in [
        ("/consumer/v2/balance", "balance"),
        ("/consumer/v2/rewards", "rewards"),
        ("/consumer/v2/profile", "profile"),
    ] {
        let r = api.get(path, &at, &c.device_id).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), st[key], "{path}");
    }

    // The access token expires on the sandbox clock.
    sb.advance(chrono::Duration::minutes(29));
    assert_eq!(
        api.get("/consumer/v2/profile", &at, &c.device_id)
            .await
            .status,
        200
    );
    sb.advance(chrono::Duration::minutes(1));
    let r = api.get("/consumer/v2/profile", &at, &c.device_id).await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_AUTH_TOKEN"));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_every_row_once_and_deltas_converge() {
    let sb = small();
    let (api, running) = Api::start(&sb).await;
    let creds = sb.credentials();
    for c in &creds {
        let at =
            s(&api.refresh(&c.refresh_token, &c.device_id).await.json()["access_token"]).to_owned();
        let truth = sb.state(&c.account_id).unwrap();
        let mut mirror: HashMap<Stream, BTreeMap<String, Value>> = HashMap::new();
        let mut cursors = HashMap::new();
        for stream in Stream::ALL {
            let (rows, cursor) = api.walk(stream, &at, &c.device_id, None, 7).await;
            let keys: Vec<_> = rows.iter().map(order_key).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted, "{stream:?} ordered by (updated_at, id)");
            let m: BTreeMap<String, Value> = rows
                .into_iter()
                .map(|r| (s(&r["id"]).to_owned(), r))
                .collect();
            assert_eq!(m.len(), keys.len(), "{stream:?}: every row exactly once");
            let want: Vec<Value> = truth[state_key(stream)].as_array().unwrap().clone();
            assert_eq!(
                m.values().cloned().collect::<Vec<_>>(),
                want,
                "{stream:?} equals state()"
            );
            // A caught-up cursor gives one empty page echoing it.
            let (more, again) = api
                .walk(stream, &at, &c.device_id, Some(cursor.clone()), 50)
                .await;
            assert!(more.is_empty());
            assert_eq!(again, cursor);
            mirror.insert(stream, m);
            cursors.insert(stream, cursor);
        }

        // Changes after the pages were served come back after their cursors.
        sb.advance(chrono::Duration::days(9));
        let r = api.get("/consumer/v2/profile", &at, &c.device_id).await;
        assert_eq!((r.status, r.code().as_str()), (401, "INVALID_AUTH_TOKEN"));
        let rt = sb
            .credentials()
            .iter()
            .find(|x| x.account_id == c.account_id)
            .unwrap()
            .refresh_token
            .clone();
        let at = s(&api.refresh(&rt, &c.device_id).await.json()["access_token"]).to_owned();
        let truth = sb.state(&c.account_id).unwrap();
        for stream in Stream::ALL {
            let (rows, _) = api
                .walk(stream, &at, &c.device_id, Some(cursors[&stream].clone()), 5)
                .await;
            let keys: Vec<_> = rows.iter().map(order_key).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
            let m = mirror.get_mut(&stream).unwrap();
            for r in rows {
                assert!(s(&r["updated_at"]) > "2026-06-01T00:00:00Z");
                m.insert(s(&r["id"]).to_owned(), r);
            }
            let want: Vec<Value> = truth[state_key(stream)].as_array().unwrap().clone();
            assert_eq!(
                m.values().cloned().collect::<Vec<_>>(),
                want,
                "{stream:?} converges"
            );
        }
    }
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cursors_and_page_sizes_are_400() {
    let sb = small();
    let (api, running) = Api::start(&sb).await;
    let creds = sb.credentials();
    let (a, b) = (&creds[0], &creds[1]);
    let at_a =
        s(&api.refresh(&a.refresh_token, &a.device_id).await.json()["access_token"]).to_owned();
    let at_b =
        s(&api.refresh(&b.refresh_token, &b.device_id).await.json()["access_token"]).to_owned();

    let r = api
        .get("/consumer/v2/purchases?page_size=3", &at_a, &a.device_id)
        .await;
    let cursor_a = r.json()["next_cursor"].as_str().unwrap().to_owned();

    // Another account.
    let r = api
        .get(
            &format!("/consumer/v2/purchases?updated_after={cursor_a}"),
            &at_b,
            &b.device_id,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"));
    // Another stream.
    let r = api
        .get(
            &format!("/consumer/v2/deliveries?updated_after={cursor_a}"),
            &at_a,
            &a.device_id,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"));
    // Garbage and a forged cursor.
    for bad in ["garbage", "AAAA", "", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = api
            .get(
                &format!("/consumer/v2/purchases?updated_after={bad}"),
                &at_a,
                &a.device_id,
            )
            .await;
        assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"), "{bad:?}");
    }
    // Page sizes: never clamped.
    for bad in ["0", "101", "-1", "ten", "1.5"] {
        let r = api
            .get(
                &format!("/consumer/v2/card/transactions?page_size={bad}"),
                &at_a,
                &a.device_id,
            )
            .await;
        assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"), "{bad}");
    }
    for ok in ["1", "100"] {
        let r = api
            .get(
                &format!("/consumer/v2/card/transactions?page_size={ok}"),
                &at_a,
                &a.device_id,
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(r.json()["transactions"].as_array().unwrap().len() <= ok.parse().unwrap());
    }
    // Default page size is 50.
    let sbig = Sandbox::new(SandboxConfig {
        accounts: 1,
        purchases_per_account: 80,
        ..Default::default()
    });
    let (api2, running2) = Api::start(&sbig).await;
    let c = &sbig.credentials()[0];
    let at =
        s(&api2.refresh(&c.refresh_token, &c.device_id).await.json()["access_token"]).to_owned();
    let r = api2.get("/consumer/v2/purchases", &at, &c.device_id).await;
    assert_eq!(r.json()["purchases"].as_array().unwrap().len(), 50);
    running2.shutdown().await;
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_first_call_returns_a_position_zero_cursor() {
    let sb = Sandbox::new(SandboxConfig {
        accounts: 1,
        purchases_per_account: 0,
        ..Default::default()
    });
    let (api, running) = Api::start(&sb).await;
    let c = &sb.credentials()[0];
    let at =
        s(&api.refresh(&c.refresh_token, &c.device_id).await.json()["access_token"]).to_owned();
    let r = api.get("/consumer/v2/deliveries", &at, &c.device_id).await;
    let v = r.json();
    assert!(v["deliveries"].as_array().unwrap().is_empty());
    let cursor = s(&v["next_cursor"]).to_owned();
    assert!(!cursor.is_empty());
    // The position-0 cursor is valid and, once purchases arrive, serves them.
    sb.advance(chrono::Duration::days(30));
    let rt = sb.credentials()[0].refresh_token.clone();
    let at = s(&api.refresh(&rt, &c.device_id).await.json()["access_token"]).to_owned();
    let (rows, _) = api
        .walk(Stream::Purchases, &at, &c.device_id, None, 100)
        .await;
    assert!(!rows.is_empty());
    let (rows2, _) = api
        .walk(Stream::Deliveries, &at, &c.device_id, Some(cursor), 100)
        .await;
    assert_eq!(
        rows2.len(),
        sb.state(&c.account_id).unwrap()["deliveries"]
            .as_array()
            .unwrap()
            .len()
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_consumed_by_the_next_matching_requests() {
    let sb = small();
    let (api, running) = Api::start(&sb).await;
    let c = sb.credentials()[0].clone();
    let faults = sb.faults();
    let at =
        s(&api.refresh(&c.refresh_token, &c.device_id).await.json()["access_token"]).to_owned();

    faults.fail_next(2, 429, "TOO_MANY_REQUESTS", Some(7));
    for _ in 0..2 {
        let r = api.get("/consumer/v2/purchases", &at, &c.device_id).await;
        assert_eq!((r.status, r.code().as_str()), (429, "TOO_MANY_REQUESTS"));
        assert_eq!(r.headers["retry-after"], "7");
    }
    assert_eq!(
        api.get("/consumer/v2/purchases", &at, &c.device_id)
            .await
            .status,
        200
    );

    faults.fail_next(1, 503, "TEMPORARILY_UNAVAILABLE", None);
    let r = api.get("/consumer/v2/balance", &at, &c.device_id).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "TEMPORARILY_UNAVAILABLE")
    );
    assert!(!r.headers.contains_key("retry-after"));

    faults.malformed_next(1);
    let r = api
        .get("/consumer/v2/card/transactions", &at, &c.device_id)
        .await;
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_str::<Value>(&r.text).is_err(),
        "cut body: {}",
        r.text
    );
    assert!(!r.text.is_empty());
    assert_eq!(
        api.get("/consumer/v2/card/transactions", &at, &c.device_id)
            .await
            .status,
        200
    );

    // Data faults do not hit the refresh route; path faults do.
    faults.fail_next(1, 500, "INTERNAL_SERVER_ERROR", None);
    let r = api
        .refresh(&sb.credentials()[0].refresh_token, &c.device_id)
        .await;
    assert_eq!(r.status, 200);
    let at = s(&r.json()["access_token"]).to_owned();
    let r = api.get("/consumer/v2/rewards", &at, &c.device_id).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (500, "INTERNAL_SERVER_ERROR")
    );
    faults.fail_next_on(
        "/auth/v1/token/refresh",
        1,
        503,
        "TEMPORARILY_UNAVAILABLE",
        Some(1),
    );
    let rt = sb.credentials()[0].refresh_token.clone();
    let r = api.refresh(&rt, &c.device_id).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "TEMPORARILY_UNAVAILABLE")
    );
    // The failed refresh did not rotate.
    assert_eq!(sb.credentials()[0].refresh_token, rt);
    assert_eq!(faults.pending(), 0);

    // expire_access_tokens: 401 until refreshed.
    faults.expire_access_tokens();
    let r = api.get("/consumer/v2/profile", &at, &c.device_id).await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_AUTH_TOKEN"));
    let r = api.refresh(&rt, &c.device_id).await;
    assert_eq!(r.status, 200);
    let at = s(&r.json()["access_token"]).to_owned();
    assert_eq!(
        api.get("/consumer/v2/profile", &at, &c.device_id)
            .await
            .status,
        200
    );

    // expire_cursors: old cursors 410, a restart works.
    let (_, cursor) = api.walk(Stream::Points, &at, &c.device_id, None, 100).await;
    faults.expire_cursors();
    let r = api
        .get(
            &format!("/consumer/v2/rewards/transactions?updated_after={cursor}"),
            &at,
            &c.device_id,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (410, "CURSOR_EXPIRED"));
    let (rows, fresh) = api.walk(Stream::Points, &at, &c.device_id, None, 100).await;
    assert!(!rows.is_empty());
    assert_ne!(fresh, cursor);

    // revoke_grant: refresh is INVALID_GRANT until the holder consents again.
    let rt = sb.credentials()[0].refresh_token.clone();
    assert!(faults.revoke_grant(&c.account_id));
    assert!(!faults.revoke_grant("kus_9999"));
    let r = api.refresh(&rt, &c.device_id).await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_GRANT"));
    // Other accounts are unaffected.
    let o = sb.credentials()[1].clone();
    assert_eq!(
        api.refresh(&o.refresh_token, &o.device_id).await.status,
        200
    );
    let fresh = sb.regrant(&c.account_id).unwrap();
    assert_ne!(fresh.refresh_token, rt);
    assert_eq!(api.refresh(&rt, &c.device_id).await.status, 401);
    assert_eq!(
        api.refresh(&fresh.refresh_token, &c.device_id).await.status,
        200
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes() {
    let sb = small();
    let (api, running) = Api::start(&sb).await;

    let r = api
        .send(api.http.get(format!("{}/__sandbox/accounts", api.base)))
        .await;
    assert_eq!(r.status, 200);
    let accts: Vec<crate::SandboxCredentials> = serde_json::from_str(&r.text).unwrap();
    assert_eq!(accts, sb.credentials());

    let r = api
        .send(
            api.http
                .get(format!("{}/__sandbox/state/kus_0002", api.base)),
        )
        .await;
    assert_eq!(r.json(), sb.state("kus_0002").unwrap());
    let r = api
        .send(
            api.http
                .get(format!("{}/__sandbox/state/kus_0042", api.base)),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "NOT_FOUND"));

    let r = api
        .post_admin("/__sandbox/advance", json!({ "days": 2 }))
        .await;
    assert_eq!(r.status, 200);
    let summary: AdvanceSummary = serde_json::from_str(&r.text).unwrap();
    assert!(summary.installments_paid + summary.card_transactions > 0);
    assert_eq!(sb.now().to_rfc3339(), "2026-06-03T00:00:00+00:00");
    let r = api
        .post_admin("/__sandbox/advance", json!({ "hours": 6 }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(sb.now().to_rfc3339(), "2026-06-03T06:00:00+00:00");
    let r = api
        .post_admin("/__sandbox/advance", json!({ "weeks": 1 }))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"));
    let r = api
        .post_admin("/__sandbox/advance", json!({ "days": -1 }))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"));

    let r = api
        .post_admin(
            "/__sandbox/faults",
            json!([{ "kind": "fail_next", "n": 1, "status": 503, "error_code": "TEMPORARILY_UNAVAILABLE" },
                   { "kind": "malformed_next" }]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["queued"], 2);
    let r = api
        .post_admin("/__sandbox/faults", json!({ "kind": "nope" }))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_VALUE"));
    let r = api
        .post_admin(
            "/__sandbox/faults",
            json!({ "kind": "revoke_grant", "account_id": "kus_0001" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let c = sb.credentials()[0].clone();
    assert_eq!(
        api.refresh(&c.refresh_token, &c.device_id).await.code(),
        "INVALID_GRANT"
    );

    let r = api
        .send(api.http.get(format!(
            "{}/__sandbox/export/kus_0003/balance.csv",
            api.base
        )))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.text
            .starts_with("entry_id,occurred_at,kind,amount,currency,purchase_id,updated_at")
    );

    let r = api.send(api.http.get(format!("{}/nope", api.base))).await;
    assert_eq!((r.status, r.code().as_str()), (404, "NOT_FOUND"));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_is_usable_without_serve() {
    // The router can be mounted elsewhere; serve() is a thin wrapper.
    let sb = small();
    let _router: axum::Router = sb.router();
    let running = sb.serve("0.0.0.0:0".parse().unwrap()).await.unwrap();
    assert!(running.base_url.starts_with("http://127.0.0.1:"));
    running.shutdown().await;
}
