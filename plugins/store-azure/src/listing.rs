//! List Blobs pages and the contract's `start-after`, which Azure lacks: it
//! pages with an opaque `marker` only. A listing after a name therefore
//! walks the pages from the start of the prefix, dropping every name up to
//! and including `start-after`, until a page holds a later one. Listing n
//! objects in the contract's pages of 1000 thus costs about (n/1000)²/2 List
//! Blobs requests (100,000 objects: some 5,000), all within one call each.

use http_client::xml;

/// One page of List Blobs: full blob names with their sizes, and the marker
/// of the next page (`None`: this was the last).
#[derive(Debug, Default, PartialEq)]
pub struct Page {
    pub blobs: Vec<(String, u64)>,
    pub next_marker: Option<String>,
}

/// Reads a List Blobs answer (`EnumerationResults`).
pub fn parse_page(doc: &str) -> Result<Page, String> {
    let root = xml::parse(doc)?;
    if root.name != "EnumerationResults" {
        return Err(format!(
            "document element {:?}, not EnumerationResults",
            root.name
        ));
    }
    let mut blobs = Vec::new();
    if let Some(list) = root.child("Blobs") {
        for blob in list.children("Blob") {
            let name = blob.child_text("Name").ok_or("a Blob without a Name")?;
            let size = blob
                .child("Properties")
                .and_then(|p| p.child_text("Content-Length"))
                .and_then(|s| s.trim().parse().ok())
                .ok_or("a Blob without a Content-Length")?;
            blobs.push((name.to_owned(), size));
        }
    }
    let next_marker = root
        .child_text("NextMarker")
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    Ok(Page { blobs, next_marker })
}

/// The first non-empty run of names strictly after `start_after`, one page's
/// worth, fetching pages (`fetch(marker)`) from the first on; empty only
/// when no name follows `start_after`. Names are compared as given (the
/// caller strips its prefix first), in the service's ascending byte order.
pub fn after<E>(
    start_after: Option<&str>,
    mut fetch: impl FnMut(Option<&str>) -> Result<Page, E>,
) -> Result<Vec<(String, u64)>, E> {
    let mut marker: Option<String> = None;
    loop {
        let page = fetch(marker.as_deref())?;
        let later: Vec<(String, u64)> = page
            .blobs
            .into_iter()
            .filter(|(name, _)| start_after.is_none_or(|after| name.as_str() > after))
            .collect();
        if !later.is_empty() {
            return Ok(later);
        }
        match page.next_marker {
            Some(next) => marker = Some(next),
            None => return Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_list_blobs_page() {
        let doc = r#"<?xml version="1.0" encoding="utf-8"?>
            <EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">
              <Prefix>p/</Prefix><MaxResults>2</MaxResults>
              <Blobs>
                <Blob><Name>p/a</Name><Properties><Content-Length>3</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob>
                <Blob><Name>p/b&amp;c</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>
              </Blobs>
              <NextMarker>2!8!cC9i</NextMarker>
            </EnumerationResults>"#;
        assert_eq!(
            parse_page(doc).unwrap(),
            Page {
                blobs: vec![("p/a".into(), 3), ("p/b&c".into(), 0)],
                next_marker: Some("2!8!cC9i".into()),
            }
        );
        let last = parse_page("<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>");
        assert_eq!(last.unwrap(), Page::default());
        assert!(parse_page("<Error><Code>x</Code></Error>").is_err());
        assert!(parse_page("<EnumerationResults><Blobs><Blob><Name>a</Name></Blob></Blobs></EnumerationResults>").is_err());
    }

    /// Pages of `per_page` names out of `names`, markers being page numbers.
    fn pages(names: &[&str], per_page: usize) -> impl FnMut(Option<&str>) -> Result<Page, ()> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        move |marker| {
            let index: usize = marker.map_or(0, |m| m.parse().unwrap());
            let chunk = names.chunks(per_page).nth(index).unwrap_or(&[]);
            let more = (index + 1) * per_page < names.len();
            Ok(Page {
                blobs: chunk.iter().map(|n| (n.clone(), 1)).collect(),
                next_marker: more.then(|| (index + 1).to_string()),
            })
        }
    }

    #[test]
    fn skips_names_up_to_start_after_across_pages() {
        let names = ["a", "b", "c", "d", "e", "f", "g"];
        let got = |start: Option<&str>| -> Vec<String> {
            let mut fetches = 0;
            let mut inner = pages(&names, 3);
            let out = after(start, |m| {
                fetches += 1;
                inner(m)
            })
            .unwrap();
            out.into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(got(None), ["a", "b", "c"]);
        assert_eq!(got(Some("b")), ["c"]);
        assert_eq!(got(Some("c")), ["d", "e", "f"]);
        assert_eq!(got(Some("d")), ["e", "f"]);
        assert_eq!(got(Some("f")), ["g"]);
        assert!(got(Some("g")).is_empty());
        assert!(got(Some("zz")).is_empty());
        // A start-after between names, and before all of them.
        assert_eq!(got(Some("cc")), ["d", "e", "f"]);
        assert_eq!(got(Some("0")), ["a", "b", "c"]);
    }

    #[test]
    fn walks_the_pages_before_start_after_and_counts_them() {
        let names: Vec<String> = (0..10).map(|i| format!("n{i:02}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut fetches = 0;
        let mut inner = pages(&refs, 2);
        let out = after(Some("n07"), |m| {
            fetches += 1;
            inner(m)
        })
        .unwrap();
        assert_eq!(out, [("n08".to_string(), 1), ("n09".to_string(), 1)]);
        assert_eq!(fetches, 5, "pages 1-4 walked through, the 5th returned");
        let empty = after(None, |_| Ok::<_, ()>(Page::default())).unwrap();
        assert!(empty.is_empty());
        assert_eq!(after(None, |_| Err::<Page, _>("boom")), Err("boom"));
    }
}
