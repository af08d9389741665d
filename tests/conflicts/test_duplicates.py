from conflicts.duplicates import Member, decide, exact_key, match_key, normalised_key
from conflicts.policy import DuplicatePolicy


def test_exact_keys_are_the_text_itself():
    """By default only identical names match; blank names never match."""
    assert exact_key("Acme Ltd") == "Acme Ltd"
    assert exact_key("  ") is None and exact_key(None) is None
    assert match_key(["Acme", "SKU-1"]) != match_key(["Acme", "SKU-2"])
    assert match_key(["Acme", None]) is None


def test_normalised_keys_fold_case_spacing_punctuation_and_suffixes():
    """'ACME  Ltd.' and 'acme limited' normalise alike; distinct names stay apart."""
    assert normalised_key("ACME  Ltd.") == normalised_key("acme limited")
    assert normalised_key("Acme, Inc") == normalised_key("acme incorporated")
    assert normalised_key("Acme") != normalised_key("Acne")


def test_normalised_keys_drop_a_trailing_legal_suffix_but_not_the_whole_name():
    """'Hooli Inc.' and 'Hooli', 'Globex Corp' and 'Globex Corporation' are near; a name
    that is only a suffix, or has one inside, keeps it."""
    assert normalised_key("Hooli Inc.") == normalised_key("Hooli") == "hooli"
    assert normalised_key("Globex Corp") == normalised_key("Globex Corporation")
    assert normalised_key("Oscorp Logistics Ltd") == normalised_key("Oscorp Logistics")
    assert normalised_key("Company") == "company"
    assert normalised_key("Co Op Foods") != normalised_key("Op Foods")


def test_one_incoming_and_one_existing_follow_the_policy():
    """A one-to-one group pairs under overwrite/link and is skipped under skip."""
    members = [Member("books:7", "books"), Member("crm:1", "crm")]
    pair = decide(DuplicatePolicy.OVERWRITE, "crm", members)
    assert pair.action == "pair" and pair.pair[0].rid == "crm:1"
    assert decide(DuplicatePolicy.LINK, "crm", members).action == "pair"
    assert decide(DuplicatePolicy.SKIP, "crm", members).action == "skip"
    assert decide(DuplicatePolicy.CLONE, "crm", members).action == "none"


def test_several_candidates_go_to_a_person():
    """Two records on one side sharing a key with one on the other: ambiguous."""
    members = [Member("crm:1", "crm"), Member("crm:2", "crm"), Member("books:1", "books")]
    decision = decide(DuplicatePolicy.OVERWRITE, "crm", members)
    assert decision.action == "ambiguous" and "person" in decision.reason


def test_decisions_do_not_depend_on_member_order():
    """The same members in any order give the same decision."""
    members = [Member("crm:1", "crm"), Member("books:1", "books"), Member("books:2", "books")]
    first = decide(DuplicatePolicy.LINK, "crm", members)
    assert decide(DuplicatePolicy.LINK, "crm", list(reversed(members))) == first


def test_near_keys_fold_every_match_field_and_need_them_all():
    """A near key normalises each match value; a missing value gives no near key."""
    from conflicts.duplicates import near_key

    assert near_key(["Acme Ltd", "SKU-1"]) == near_key(["ACME limited", "sku 1"])
    assert near_key(["Acme Ltd", "SKU-1"]) != near_key(["Acme Ltd", "SKU-2"])
    assert near_key(["Acme", None]) is None and near_key(["..."]) is None


def test_a_near_group_across_sides_is_a_suggestion_of_all_its_members():
    """'Acme Ltd' in CRM and 'ACME Limited' in Books: both are suggested, sorted by rid."""
    from conflicts.duplicates import Candidate, near_group

    crm = Candidate("crm:1", "crm", "Acme Ltd")
    books = Candidate("books:1", "books", "ACME Limited")
    assert near_group([crm, books]) == (books, crm)
    assert near_group([books, crm]) == (books, crm)


def test_exact_duplicates_are_left_to_the_policy_and_one_side_alone_is_no_suggestion():
    """Records whose exact key meets another side leave the near group; what remains on a
    single side is not a suggestion."""
    from conflicts.duplicates import Candidate, near_group

    exact_crm = Candidate("crm:1", "crm", "Acme Ltd")
    exact_books = Candidate("books:1", "books", "Acme Ltd")
    near_books = Candidate("books:2", "books", "ACME Limited")
    assert near_group([exact_crm, exact_books, near_books]) == ()
    same_side = Candidate("books:3", "books", "ACME Limited")
    assert near_group([near_books, same_side]) == ()
    near_crm = Candidate("crm:2", "crm", "acme ltd.")
    group = near_group([exact_crm, exact_books, near_books, same_side, near_crm])
    assert group == (near_books, same_side, near_crm)
