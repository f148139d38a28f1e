//! Just enough protobuf to read what kubectl's typed clients send
//! (`application/vnd.kubernetes.protobuf`): the `k8s\0` envelope (`runtime.Unknown`) and the
//! fields of a ClusterRoleBinding, into the JSON form the rest of the double works with.

use serde_json::{Value, json};

/// Fields of one message: (field number, bytes of a length-delimited value). Varint and fixed
/// fields are skipped (none of the fields read here use them).
fn fields(mut b: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (key, n) = varint(b)?;
        b = &b[n..];
        match key & 7 {
            0 => b = &b[varint(b)?.1..],
            1 => b = b.get(8..)?,
            5 => b = b.get(4..)?,
            2 => {
                let (len, n) = varint(b)?;
                let end = n.checked_add(usize::try_from(len).ok()?)?;
                out.push((key >> 3, b.get(n..end)?));
                b = &b[end..];
            }
            _ => return None,
        }
    }
    Some(out)
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn string_fields(b: &[u8], names: &[(u64, &str)]) -> Option<Value> {
    let mut m = serde_json::Map::new();
    for (num, raw) in fields(b)? {
        if let Some((_, name)) = names.iter().find(|(n, _)| *n == num) {
            m.insert((*name).to_string(), json!(String::from_utf8_lossy(raw)));
        }
    }
    Some(Value::Object(m))
}

/// The object inside a `k8s\0` envelope, when it is a ClusterRoleBinding.
pub fn cluster_role_binding(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let raw = fields(unknown)?.into_iter().find(|(n, _)| *n == 2)?.1;
    let mut crb = json!({"metadata": {}, "subjects": [], "roleRef": {}});
    for (num, v) in fields(raw)? {
        match num {
            1 => crb["metadata"] = string_fields(v, &[(1, "name")])?,
            2 => crb["subjects"].as_array_mut()?.push(string_fields(
                v,
                &[(1, "kind"), (2, "apiGroup"), (3, "name"), (4, "namespace")],
            )?),
            3 => crb["roleRef"] = string_fields(v, &[(1, "apiGroup"), (2, "kind"), (3, "name")])?,
            _ => {}
        }
    }
    Some(crb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(num: u64, v: &[u8]) -> Vec<u8> {
        let mut o = vec![((num << 3) | 2) as u8];
        let mut len = v.len();
        while len >= 0x80 {
            o.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        o.push(len as u8);
        o.extend_from_slice(v);
        o
    }

    #[test]
    fn decodes_a_cluster_role_binding_envelope() {
        let meta = ld(1, b"kubernetes-crb");
        let subject = [
            ld(1, b"User"),
            ld(2, b"rbac.authorization.k8s.io"),
            ld(3, b"kubernetes"),
        ]
        .concat();
        let role = [
            ld(1, b"rbac.authorization.k8s.io"),
            ld(2, b"ClusterRole"),
            ld(3, b"system:kubelet-api-admin"),
        ]
        .concat();
        let raw = [ld(1, &meta), ld(2, &subject), ld(3, &role)].concat();
        let type_meta = [
            ld(1, b"rbac.authorization.k8s.io/v1"),
            ld(2, b"ClusterRoleBinding"),
        ]
        .concat();
        let mut body = b"k8s\0".to_vec();
        body.extend([ld(1, &type_meta), ld(2, &raw), ld(4, b"")].concat());
        let crb = cluster_role_binding(&body).unwrap();
        assert_eq!(crb["metadata"]["name"], "kubernetes-crb");
        assert_eq!(crb["subjects"][0]["name"], "kubernetes");
        assert_eq!(crb["roleRef"]["name"], "system:kubelet-api-admin");
        assert!(cluster_role_binding(b"{}").is_none());
        assert!(
            cluster_role_binding(b"k8s\0\x12\xff").is_none(),
            "truncated input is refused, not read past"
        );
    }
}
