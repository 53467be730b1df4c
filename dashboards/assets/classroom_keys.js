// Classroom keys: right/left arrows (and page down/up) change step, space plays or pauses the weeks, Enter reveals a
// step's chart after the class's prediction, F toggles the full-screen presentation mode (the navigation bar hidden).
// The page fills the window below the navigation bar: its height is kept in the CSS variable --cls-top.
(function () {
    function placePage() {
        var nav = document.querySelector("nav.navbar");
        var present = document.body.classList.contains("cls-present");
        var top = (!present && nav) ? Math.ceil(nav.getBoundingClientRect().bottom) : 0;
        document.documentElement.style.setProperty("--cls-top", top + "px");
    }

    function togglePresent() {
        var on = !document.body.classList.contains("cls-present");
        document.body.classList.toggle("cls-present", on);
        try {
            if (on && document.documentElement.requestFullscreen && !document.fullscreenElement) {
                document.documentElement.requestFullscreen().catch(function () {});
            } else if (!on && document.fullscreenElement && document.exitFullscreen) {
                document.exitFullscreen().catch(function () {});
            }
        } catch (e) { /* full screen refused: the presentation mode still hides the navigation bar */ }
        placePage();
        window.dispatchEvent(new Event("resize"));  // the charts take the new height
    }

    document.addEventListener("fullscreenchange", function () {
        if (!document.fullscreenElement && document.body.classList.contains("cls-present")) {
            document.body.classList.remove("cls-present");
            placePage();
            window.dispatchEvent(new Event("resize"));
        }
    });
    window.addEventListener("resize", placePage);
    new MutationObserver(function () { if (document.querySelector(".classroom")) { placePage(); } })
        .observe(document.documentElement, {childList: true, subtree: true});

    document.addEventListener("click", function (event) {
        if (event.target && event.target.closest && event.target.closest("#cls-present")) { togglePresent(); }
    });

    document.addEventListener("keydown", function (event) {
        if (!document.querySelector(".classroom")) { return; }
        var tag = (event.target && event.target.tagName) || "";
        if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (event.target && event.target.isContentEditable)) { return; }
        if (event.ctrlKey || event.metaKey || event.altKey) { return; }
        var target = null;
        if (event.key === "ArrowRight" || event.key === "PageDown") { target = "cls-next"; }
        else if (event.key === "ArrowLeft" || event.key === "PageUp") { target = "cls-prev"; }
        else if (event.key === " " || event.key === "Spacebar") { target = "cls-play"; }
        else if (event.key === "Enter") { target = "cls-reveal"; }
        else if (event.key === "f" || event.key === "F") { event.preventDefault(); togglePresent(); return; }
        if (target) {
            var button = document.getElementById(target);
            if (button && button.offsetParent !== null) { event.preventDefault(); button.click(); }
        }
    });
})();
