// Classroom keyboard navigation: right/left arrows (and page down/up) change step, space plays or pauses the weeks.
document.addEventListener("keydown", function (event) {
    if (!document.querySelector(".classroom")) { return; }
    var tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (event.target && event.target.isContentEditable)) { return; }
    var target = null;
    if (event.key === "ArrowRight" || event.key === "PageDown") { target = "cls-next"; }
    else if (event.key === "ArrowLeft" || event.key === "PageUp") { target = "cls-prev"; }
    else if (event.key === " " || event.key === "Spacebar") { target = "cls-play"; }
    if (target) {
        var button = document.getElementById(target);
        if (button) { event.preventDefault(); button.click(); }
    }
});
