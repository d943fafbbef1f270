//! The owner of a restored data directory. PostgreSQL refuses to start on a
//! data directory its server user does not own, and a restore writes as the
//! host's user (often root), so every restored entry is given the configured
//! owner, by default that of the restore target itself: an operator who
//! prepared an empty directory for `postgres` needs to configure nothing.

use guest_sdk::Owner;

use crate::config::{DataOwner, Id};

/// The owner every restored entry gets. A configured name travels as a name
/// for the host to resolve on the restore machine, with the target's id as
/// the numeric fallback; ids given as numbers are used as they are.
pub fn resolve(configured: &DataOwner, target: &Owner) -> Owner {
    let (uid, user) = part(configured.user.as_ref(), target.uid);
    let (gid, group) = part(configured.group.as_ref(), target.gid);
    Owner {
        uid,
        gid,
        user,
        group,
    }
}

fn part(configured: Option<&Id>, target: u32) -> (u32, Option<String>) {
    match configured {
        None => (target, None),
        Some(Id::Number(id)) => (*id, None),
        Some(Id::Name(name)) => (target, Some(name.clone())),
    }
}

/// How the owner reads in messages.
pub fn describe(owner: &Owner) -> String {
    let user = owner.user.clone().unwrap_or_else(|| owner.uid.to_string());
    let group = owner.group.clone().unwrap_or_else(|| owner.gid.to_string());
    format!("{user}:{group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Owner {
        Owner {
            uid: 26,
            gid: 27,
            user: Some("postgres".into()),
            group: Some("postgres".into()),
        }
    }

    #[test]
    fn defaults_to_the_target_by_id() {
        let owner = resolve(&DataOwner::default(), &target());
        assert_eq!(
            (owner.uid, owner.gid, owner.user, owner.group),
            (26, 27, None, None)
        );
    }

    #[test]
    fn takes_configured_ids_and_names() {
        let owner = resolve(
            &DataOwner {
                user: Some(Id::Name("pg".into())),
                group: Some(Id::Number(1000)),
            },
            &target(),
        );
        assert_eq!(
            (
                owner.uid,
                owner.gid,
                owner.user.as_deref(),
                owner.group.as_deref()
            ),
            (26, 1000, Some("pg"), None)
        );
        assert_eq!(describe(&owner), "pg:1000");
    }
}
