//! Merkle tree hashing as RFC 6962 §2.1 (and RFC 9162 §2.1) defines it, so any Certificate
//! Transparency tool computes the same roots and checks the same inclusion proofs:
//! a leaf is `SHA-256(0x00 || data)`, a node `SHA-256(0x01 || left || right)`, and a tree of `n`
//! leaves splits after the largest power of two below `n`; the empty tree is `SHA-256("")`.
//!
//! [`RootBuilder`] computes a root over a stream of leaves in O(log n) memory (a period may hold
//! millions of events); [`inclusion_path`] needs the period's leaf hashes, which a proof request
//! reads back from the archive; [`root_from_inclusion`] checks a path with nothing else.

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of a leaf whose data is `data`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the tree with no leaves.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Computes the root of leaves pushed one at a time. It keeps the roots of the complete
/// subtrees seen so far (one per set bit of the count); the final root folds them right to left,
/// which is RFC 6962's split "after the largest power of two" applied at every level.
#[derive(Debug, Default, Clone)]
pub struct RootBuilder {
    /// (root, leaves) of complete subtrees, largest first; sizes are distinct powers of two.
    stack: Vec<(Hash, u64)>,
    size: u64,
}

impl RootBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next leaf, by its leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (leaf, 1u64);
        while let Some(&(left, size)) = self.stack.last() {
            if size != node.1 {
                break;
            }
            self.stack.pop();
            node = (node_hash(&left, &node.0), size * 2);
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// Leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some(&(mut root, _)) = subtrees.next() else {
            return empty_root();
        };
        for (left, _) in subtrees {
            root = node_hash(left, &root);
        }
        root
    }
}

/// The root of `leaves` (leaf hashes).
pub fn root(leaves: &[Hash]) -> Hash {
    let mut builder = RootBuilder::new();
    for leaf in leaves {
        builder.push(*leaf);
    }
    builder.root()
}

/// RFC 6962's PATH(m, D[n]): the sibling hashes from leaf `index` up to the root, lowest first.
/// `None` if `index` is not a leaf of the tree.
pub fn inclusion_path(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0usize, leaves.len(), index);
    let mut siblings = Vec::new();
    while hi - lo > 1 {
        let k = largest_power_of_two_below(hi - lo);
        if m < k {
            siblings.push((lo + k, hi));
            hi = lo + k;
        } else {
            siblings.push((lo, lo + k));
            lo += k;
            m -= k;
        }
    }
    for (from, to) in siblings.into_iter().rev() {
        path.push(root(&leaves[from..to]));
    }
    Some(path)
}

/// The root that leaf hash `leaf` at `index` of a tree of `size` leaves and the audit `path`
/// imply (RFC 9162 §2.1.3.2), or `None` if the path cannot belong to such a tree. A proof holds
/// when this equals the signed root.
pub fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

fn largest_power_of_two_below(n: usize) -> usize {
    debug_assert!(n > 1);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The Certificate Transparency reference leaves and the roots of their first 0..=8.
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct_leaves() -> Vec<Hash> {
        CT_LEAVES.iter().map(|h| leaf_hash(&hex::decode(h).unwrap())).collect()
    }

    /// MTH(D[n]) exactly as RFC 6962 writes it, recursively: the oracle for the rest.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = largest_power_of_two_below(n);
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_certificate_transparency_reference_for_every_size() {
        let leaves = ct_leaves();
        for n in 0..=8 {
            assert_eq!(hex::encode(root(&leaves[..n])), CT_ROOTS[n], "size {n}");
        }
    }

    #[test]
    fn inclusion_paths_match_the_certificate_transparency_reference() {
        let leaves = ct_leaves();
        let expect = |index: usize, path: &[&str]| {
            let got: Vec<String> = inclusion_path(&leaves, index)
                .unwrap()
                .iter()
                .map(hex::encode)
                .collect();
            assert_eq!(got, path, "leaf {index} of 8");
        };
        expect(
            0,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        );
        expect(
            5,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        );
    }

    #[test]
    fn every_leaf_of_every_tree_up_to_70_proves_its_inclusion_and_no_other_does() {
        for n in 1..=70u64 {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let expected = reference_root(&leaves);
            assert_eq!(root(&leaves), expected, "streamed root of {n}");
            for i in 0..n {
                let path = inclusion_path(&leaves, i as usize).unwrap();
                let leaf = &leaves[i as usize];
                assert_eq!(
                    root_from_inclusion(leaf, i, n, &path),
                    Some(expected),
                    "leaf {i} of {n}"
                );
                let other = leaf_hash(b"not in the tree");
                assert_ne!(root_from_inclusion(&other, i, n, &path), Some(expected));
                if n > 1 {
                    let moved = (i + 1) % n;
                    assert_ne!(
                        root_from_inclusion(leaf, moved, n, &path),
                        Some(expected),
                        "leaf {i} as {moved}"
                    );
                }
            }
            assert_eq!(inclusion_path(&leaves, n as usize), None);
        }
    }

    proptest! {
        #[test]
        fn the_streamed_root_is_rfc_6962s_root(n in 0usize..2_000) {
            let leaves: Vec<Hash> = (0..n as u64).map(|i| leaf_hash(&i.to_le_bytes())).collect();
            prop_assert_eq!(root(&leaves), reference_root(&leaves));
        }
    }
}
