"""`data.list`: datasets' split and annotation files, on small trees laid out like each
dataset (tiny files stand in for videos: the lists are read, nothing is decoded)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from stdann.config import load_config
from stdann.data.lists import VideoList, VideoListError, read_video_list
from train_fixtures import CONFIGS, MICRO, micro_corpus


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"a video")


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def names(listed: VideoList, root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in listed.videos]


# ---- UCF101 ---------------------------------------------------------------

UCF_CLASSES = "1 ApplyEyeMakeup\n2 HandstandPushups\n3 JumpingJack\n4 JumpRope\n"


@pytest.fixture
def ucf(tmp_path: Path) -> Path:
    root = tmp_path / "UCF-101"
    touch(
        root,
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        # UCF101's own quirk: the folder and the file name differ in case.
        "HandstandPushups/v_HandStandPushups_g08_c01.avi",
        "JumpRope/v_JumpRope_g08_c01.avi",
        "JumpingJack/v_JumpingJack_g01_c01.avi",
    )
    # Windows line ends, as the official files have.
    write(
        root,
        "ucfTrainTestlist/trainlist01.txt",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n"
        "JumpRope/v_JumpRope_g08_c01.avi 4\r\n"
        "JumpRope/v_JumpRope_g09_c01.avi 4\r\n",
    )
    write(
        root,
        "ucfTrainTestlist/testlist01.txt",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\nJumpingJack/v_JumpingJack_g01_c01.avi\r\n",
    )
    write(root, "ucfTrainTestlist/classInd.txt", UCF_CLASSES)
    return root


def test_ucf101_trainlist_takes_labels_from_its_indexes_and_classind(ucf):
    listed = read_video_list(ucf, "ucfTrainTestlist/trainlist01.txt")
    assert listed.format == "ucf101"
    assert listed.listed == 4 and len(listed.videos) == 3
    assert names(listed, ucf) == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "HandstandPushups/v_HandStandPushups_g08_c01.avi",
        "JumpRope/v_JumpRope_g08_c01.avi",
    ]
    assert listed.classes == ("ApplyEyeMakeup", "HandstandPushups", "JumpingJack", "JumpRope")
    assert listed.labels == (0, 1, 3)
    assert listed.missing == ("JumpRope/v_JumpRope_g09_c01.avi",)
    assert listed.unreadable == () and listed.duplicates == 0


def test_ucf101_testlist_takes_labels_from_folders(ucf):
    listed = read_video_list(ucf, "ucfTrainTestlist/testlist01.txt")
    assert listed.format == "ucf101" and listed.listed == 2 and len(listed.videos) == 2
    assert listed.labels == (0, 2)
    assert len(listed.classes) == 4 and listed.missing == ()


def test_ucf101_without_classind_sorts_folders_as_classind_does(ucf, tmp_path):
    (ucf / "ucfTrainTestlist" / "classInd.txt").unlink()
    listed = read_video_list(ucf, "ucfTrainTestlist/trainlist01.txt")
    # Ignoring case, as UCF101's own classInd.txt (JumpingJack before JumpRope).
    assert listed.classes == ("ApplyEyeMakeup", "HandstandPushups", "JumpRope")
    assert listed.labels == (0, 1, 2)
    testlist = read_video_list(ucf, "ucfTrainTestlist/testlist01.txt")
    assert testlist.classes == ("ApplyEyeMakeup", "JumpingJack") and testlist.labels == (0, 1)


def test_ucf101_is_told_by_its_lines_and_finds_a_prepared_copy(ucf, tmp_path):
    # `stdann prepare` writes .mp4 files where the list names .avi; a list
    # under another name is told by its CLASS/v_CLASS_gNN_cNN lines.
    prepared = tmp_path / "prepared"
    touch(prepared, "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.mp4", "v_JumpRope_g08_c01.mp4")
    text = (ucf / "ucfTrainTestlist" / "trainlist01.txt").read_text()
    write(prepared, "my-split.txt", text)
    listed = read_video_list(prepared, "my-split.txt")
    assert listed.format == "ucf101"
    # Found at its path with another suffix, and flat in the root.
    assert names(listed, prepared) == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.mp4",
        "v_JumpRope_g08_c01.mp4",
    ]
    assert listed.labels == (0, 2)  # no classInd.txt beside it: the listed folders
    assert listed.missing == (
        "HandstandPushups/v_HandStandPushups_g08_c01.avi",
        "JumpRope/v_JumpRope_g09_c01.avi",
    )


def test_ucf101_bad_lines_are_errors_naming_the_file_and_line(ucf):
    write(ucf, "ucfTrainTestlist/trainlist02.txt", "JumpRope/v_JumpRope_g08_c01.avi 9\n")
    with pytest.raises(VideoListError, match=r"trainlist02\.txt', line 1: class index 9"):
        read_video_list(ucf, "ucfTrainTestlist/trainlist02.txt")
    write(ucf, "ucfTrainTestlist/testlist02.txt", "Juggling/v_Juggling_g08_c01.avi\n")
    with pytest.raises(VideoListError, match=r"testlist02\.txt', line 1: class 'Juggling'"):
        read_video_list(ucf, "ucfTrainTestlist/testlist02.txt")
    write(ucf, "ucfTrainTestlist/testlist03.txt", "v_JumpRope_g08_c01.avi\n")
    with pytest.raises(VideoListError, match=r"testlist03\.txt', line 1: expected CLASS/"):
        read_video_list(ucf, "ucfTrainTestlist/testlist03.txt")


# ---- HMDB51 ---------------------------------------------------------------


@pytest.fixture
def hmdb(tmp_path: Path) -> Path:
    root = tmp_path / "hmdb51"
    splits = "testTrainMulti_7030_splits"
    touch(
        root,
        "brush_hair/a_brush_hair_0.avi",
        "brush_hair/b_brush_hair_1.avi",
        "brush_hair/c_brush_hair_2.avi",
        "cartwheel/a_cartwheel_0.avi",
        "cartwheel/b_cartwheel_1.avi",
        "cartwheel/d_cartwheel_3.avi",
    )
    # The official lines end in a space.
    write(
        root,
        f"{splits}/brush_hair_test_split1.txt",
        "a_brush_hair_0.avi 1 \nb_brush_hair_1.avi 2 \nc_brush_hair_2.avi 0 \n",
    )
    write(
        root,
        f"{splits}/cartwheel_test_split1.txt",
        "a_cartwheel_0.avi 1 \nb_cartwheel_1.avi 2 \nc_cartwheel_2.avi 1 \nd_cartwheel_3.avi 2 \n",
    )
    write(root, f"{splits}/brush_hair_test_split2.txt", "a_brush_hair_0.avi 2 \n")
    return root


def test_hmdb51_glob_of_one_split_in_train_and_test(hmdb):
    pattern = "testTrainMulti_7030_splits/*_test_split1.txt"
    train = read_video_list(hmdb, pattern, "train")
    assert train.format == "hmdb51"
    assert train.listed == 3 and len(train.videos) == 2
    assert names(train, hmdb) == ["brush_hair/a_brush_hair_0.avi", "cartwheel/a_cartwheel_0.avi"]
    assert train.classes == ("brush_hair", "cartwheel") and train.labels == (0, 1)
    assert train.missing == ("cartwheel/c_cartwheel_2.avi",)
    test = read_video_list(hmdb, pattern, "test")
    assert test.listed == 3 and len(test.videos) == 3 and test.labels == (0, 1, 1)
    assert test.missing == ()


def test_hmdb51_one_file_a_folder_and_flat_videos(hmdb, tmp_path):
    one = read_video_list(hmdb, "testTrainMulti_7030_splits/cartwheel_test_split1.txt", "test")
    assert one.listed == 2 and one.classes == ("cartwheel",) and one.labels == (0, 0)
    # A folder holding one split's files reads them all.
    (hmdb / "testTrainMulti_7030_splits" / "brush_hair_test_split2.txt").unlink()
    folder = read_video_list(hmdb, "testTrainMulti_7030_splits", "test")
    assert folder.listed == 3 and len(folder.videos) == 3
    # Videos without class folders are found flat in the root.
    flat = tmp_path / "flat"
    touch(flat, "b_cartwheel_1.avi")
    listed = read_video_list(flat, hmdb / "testTrainMulti_7030_splits", "test")
    assert names(listed, flat) == ["b_cartwheel_1.avi"] and listed.listed == 3


def test_hmdb51_needs_a_subset_and_one_split(hmdb):
    with pytest.raises(VideoListError, match=r"set data\.list_subset to train or test"):
        read_video_list(hmdb, "testTrainMulti_7030_splits/*_test_split1.txt")
    with pytest.raises(VideoListError, match=r"testTrainMulti_7030_splits' holds .* splits 1, 2"):
        read_video_list(hmdb, "testTrainMulti_7030_splits", "train")
    write(hmdb, "testTrainMulti_7030_splits/hug_test_split1.txt", "x.avi 3\n")
    with pytest.raises(VideoListError, match=r"hug_test_split1\.txt', line 1: expected VIDEO"):
        read_video_list(hmdb, "testTrainMulti_7030_splits/*_test_split1.txt", "train")
    with pytest.raises(VideoListError, match="the glob matches no file"):
        read_video_list(hmdb, "testTrainMulti_7030_splits/*_test_split9.txt", "train")


# ---- Kinetics -------------------------------------------------------------


@pytest.fixture
def kinetics(tmp_path: Path) -> Path:
    root = tmp_path / "kinetics400"
    touch(
        root,
        "train/abseiling/aaa_000010_000020.mp4",  # SPLIT/LABEL/
        "train/air_drumming/bbb_000001_000011.mp4",  # LABEL with _ for spaces
        "ccc_000100_000110.mp4",  # flat
        "val/abseiling/eee_000005_000015.mkv",
    )
    write(
        root,
        "annotations/train.csv",
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,aaa,10,20,train\n"
        "air drumming,bbb,1,11,train\n"
        '"air drumming",ccc,100,110,train\n'
        "zumba,ddd,0,10,train\n",
    )
    return root


def test_kinetics_csv_finds_nested_and_flat_videos_with_labels(kinetics):
    listed = read_video_list(kinetics, "annotations/train.csv")
    assert listed.format == "kinetics"
    assert listed.listed == 4 and len(listed.videos) == 3
    assert names(listed, kinetics) == [
        "train/abseiling/aaa_000010_000020.mp4",
        "train/air_drumming/bbb_000001_000011.mp4",
        "ccc_000100_000110.mp4",
    ]
    assert listed.classes == ("abseiling", "air drumming", "zumba")
    assert listed.labels == (0, 1, 1)
    assert listed.missing == ("ddd_000000_000010",)


def test_kinetics_700_2020_columns_and_a_test_csv_without_labels(kinetics):
    # Kinetics-700-2020 adds is_cc; its validation file is told by its header too.
    write(
        kinetics,
        "annotations/validate.txt",
        "label,youtube_id,time_start,time_end,split,is_cc\nabseiling,eee,5,15,val,0\n",
    )
    val = read_video_list(kinetics, "annotations/validate.txt")
    assert val.format == "kinetics" and names(val, kinetics) == [
        "val/abseiling/eee_000005_000015.mkv"
    ]
    assert val.classes == ("abseiling",) and val.labels == (0,)
    write(
        kinetics, "annotations/test.csv", "youtube_id,time_start,time_end,split\nccc,100,110,test\n"
    )
    test = read_video_list(kinetics, "annotations/test.csv")
    assert test.labels is None and test.classes == () and len(test.videos) == 1


def test_kinetics_bad_csvs_are_errors(kinetics):
    write(kinetics, "other.csv", "name,start\nx,1\n")
    with pytest.raises(VideoListError, match=r"other\.csv': a CSV without Kinetics' columns"):
        read_video_list(kinetics, "other.csv")
    write(kinetics, "bad.csv", "label,youtube_id,time_start,time_end,split\nx,aaa,ten,20,train\n")
    with pytest.raises(VideoListError, match=r"bad\.csv', line 2: time_start and time_end"):
        read_video_list(kinetics, "bad.csv")


# ---- Something-Something v2 -----------------------------------------------


def ssv2_item(vid: str, template: str) -> dict:
    return {
        "id": vid,
        "label": template.replace("[something]", "a cup"),
        "template": template,
        "placeholders": ["a cup"],
    }


@pytest.fixture
def ssv2(tmp_path: Path) -> Path:
    root = tmp_path / "20bn-something-something-v2"
    touch(root, "78687.webm", "42326.webm", "100.webm")
    items = [
        ssv2_item("78687", "Holding [something] next to [something]"),
        ssv2_item("42326", "Approaching [something] with your camera"),
        ssv2_item("100", "Holding [something] next to [something]"),
        ssv2_item("555", "Putting [something] on a surface"),
    ]
    write(root, "labels/something-something-v2-train.json", json.dumps(items))
    return root


def test_ssv2_json_takes_classes_from_templates(ssv2):
    listed = read_video_list(ssv2, "labels/something-something-v2-train.json")
    assert listed.format == "ssv2"
    assert listed.listed == 4 and names(listed, ssv2) == ["78687.webm", "42326.webm", "100.webm"]
    assert listed.classes == (
        "Approaching something with your camera",
        "Holding something next to something",
        "Putting something on a surface",
    )
    assert listed.labels == (1, 0, 1) and listed.missing == ("555",)


def test_ssv2_labels_json_orders_the_classes_and_test_json_has_none(ssv2):
    write(
        ssv2,
        "labels/something-something-v2-labels.json",
        json.dumps(
            {
                "Putting something on a surface": "0",
                "Holding something next to something": "1",
                "Approaching something with your camera": "2",
            }
        ),
    )
    listed = read_video_list(ssv2, "labels/something-something-v2-train.json")
    assert listed.classes[0] == "Putting something on a surface" and listed.labels == (1, 2, 1)
    write(ssv2, "labels/something-something-v2-test.json", '[{"id": "100"}, {"id": "9"}]')
    test = read_video_list(ssv2, "labels/something-something-v2-test.json")
    assert test.labels is None and test.classes == () and test.missing == ("9",)
    write(ssv2, "labels/other.json", json.dumps([ssv2_item("100", "Tearing [something]")]))
    with pytest.raises(VideoListError, match=r"class 'Tearing something' is not in"):
        read_video_list(ssv2, "labels/other.json")


def test_json_of_another_shape_is_an_error(ssv2):
    write(ssv2, "labels/dict.json", '{"78687": "Holding"}')
    with pytest.raises(VideoListError, match=r"dict\.json': JSON, but not Something"):
        read_video_list(ssv2, "labels/dict.json")
    write(ssv2, "labels/broken.json", "[{")
    with pytest.raises(VideoListError, match=r"broken\.json' is not valid JSON"):
        read_video_list(ssv2, "labels/broken.json")


# ---- plain lists ----------------------------------------------------------


def test_plain_list_counts_missing_unreadable_and_duplicate_entries(tmp_path):
    root = tmp_path / "videos"
    touch(root, "a.mp4", "sub/b.mkv", "c.mp4")
    (root / "empty.mp4").write_bytes(b"")
    (root / "folder.mp4").mkdir()
    write(
        root,
        "train.txt",
        "# my split\n\na.mp4\nsub/b.mkv\n  \ngone.mp4\nempty.mp4\nfolder.mp4\na.mp4\nc.avi\n",
    )
    listed = read_video_list(root, "train.txt")
    assert listed.format == "paths"
    assert names(listed, root) == ["a.mp4", "sub/b.mkv", "c.mp4"]
    assert listed.labels is None and listed.classes == ()
    assert listed.listed == 7 and listed.duplicates == 1
    assert listed.missing == ("gone.mp4",)
    assert listed.unreadable == ("empty.mp4", "folder.mp4")
    assert listed.summary() == (
        f"data.list '{root / 'train.txt'}' (plain list): 7 listed, 3 found, 1 missing, "
        "2 unreadable, 1 duplicates kept once (gone.mp4, empty.mp4 (unreadable), "
        "folder.mp4 (unreadable))"
    )


def test_summary_names_the_first_five_and_says_so(tmp_path):
    touch(tmp_path, "here.mp4")
    write(tmp_path, "l.txt", "here.mp4\n" + "".join(f"m{i}.mp4\n" for i in range(7)))
    assert read_video_list(tmp_path, "l.txt").summary() == (
        f"data.list '{tmp_path / 'l.txt'}' (plain list): 8 listed, 1 found, 7 missing, "
        "0 unreadable (first 5: m0.mp4, m1.mp4, m2.mp4, m3.mp4, m4.mp4)"
    )
    write(tmp_path, "all.txt", "here.mp4\n")
    assert (
        read_video_list(tmp_path, "all.txt")
        .summary()
        .endswith("1 listed, 1 found, 0 missing, 0 unreadable")
    )


def test_lists_that_cannot_be_used_are_errors_naming_the_file(tmp_path):
    touch(tmp_path, "a.mp4")
    write(tmp_path, "none.txt", "x.mp4\ny.mp4\n")
    with pytest.raises(VideoListError, match=r"none\.txt' \(plain list\) lists 2 videos and none"):
        read_video_list(tmp_path, "none.txt")
    with pytest.raises(VideoListError, match=r"nope\.txt': no such file"):
        read_video_list(tmp_path, "nope.txt")
    write(tmp_path, "blank.txt", "# nothing\n\n")
    with pytest.raises(VideoListError, match=r"blank\.txt' lists no videos"):
        read_video_list(tmp_path, "blank.txt")
    (tmp_path / "binary.lst").write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(VideoListError, match=r"binary\.lst' is not a text file"):
        read_video_list(tmp_path, "binary.lst")
    write(tmp_path, "labelled.txt", "a.mp4 3\nb.mp4 4\n")
    with pytest.raises(VideoListError, match=r"labelled\.txt': cannot tell its format"):
        read_video_list(tmp_path, "labelled.txt")
    write(tmp_path, "ok.txt", "a.mp4\n")
    with pytest.raises(VideoListError, match=r"HMDB51's split files only; '.*ok\.txt'"):
        read_video_list(tmp_path, "ok.txt", "train")
    with pytest.raises(VideoListError, match="subset must be train or test"):
        read_video_list(tmp_path, "ok.txt", "val")
    with pytest.raises(VideoListError, match=r"data\.root '.*missing': no such folder"):
        read_video_list(tmp_path / "missing", "ok.txt")
    with pytest.raises(VideoListError, match=r"is a folder without HMDB51 split files"):
        read_video_list(tmp_path.parent, tmp_path.name)


# ---- training on a list ---------------------------------------------------


def test_training_uses_the_listed_videos_and_logs_the_missing(tmp_path, monkeypatch, caplog):
    import stdann.train.loop as loop
    from stdann.train import TrainingError, train

    corpus = micro_corpus(tmp_path / "corpus", count=6)
    listed = ["texture1.mp4", "texture2.mp4", "gone.mp4", "texture4.mp4", "texture5.mp4"]
    write(corpus, "lists/train.txt", "\n".join(listed) + "\n")
    used: list[list[Path]] = []

    class Recording(loop.VideoClipLoader):
        def __init__(self, paths, *args, **kwargs):
            used.append(list(paths))
            super().__init__(paths, *args, **kwargs)

    monkeypatch.setattr(loop, "VideoClipLoader", Recording)
    sets = [*MICRO, f"data.root={corpus}", "data.list=lists/train.txt", "train.steps=2"]
    with caplog.at_level(logging.INFO, logger="stdann.train"):
        result = train(load_config(CONFIGS / "tiny.yaml", sets), tmp_path / "run", progress=False)
    assert result.step == 2 and result.finished
    # The listed videos alone, in list order: not texture0 or texture3.
    assert [p.name for p in used[0]] == [n for n in listed if n != "gone.mp4"]
    lines = [r for r in caplog.records if r.getMessage().startswith("data.list ")]
    assert [(r.levelno, r.getMessage()) for r in lines] == [
        (
            logging.WARNING,
            f"data.list '{corpus / 'lists/train.txt'}' (plain list): 5 listed, 4 found, "
            "1 missing, 0 unreadable (gone.mp4)",
        )
    ]
    # A list none of whose videos exists stops the run before its first step, naming it.
    write(corpus, "lists/none.txt", "gone.mp4\n")
    with pytest.raises(TrainingError, match=r"lists/none\.txt' \(plain list\) lists 1 videos"):
        train(
            load_config(CONFIGS / "tiny.yaml", [*sets, "data.list=lists/none.txt"]),
            tmp_path / "run2",
            progress=False,
        )
