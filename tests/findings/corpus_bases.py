"""Hand-written findings as MedGemma 4B gives them, one list per template.

Each is a valid instance of its template's schema; `corpus.py` turns them into model answers with
the failure modes seen in practice. Plain data: edit freely, the corpus tests re-check validity.
"""

from __future__ import annotations

from typing import Any

CXR: list[dict[str, Any]] = [
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["No focal consolidation", "No pulmonary nodules or masses"],
        "pleural_findings": ["No pleural effusion", "No pneumothorax"],
        "bone_findings": ["No acute osseous abnormality"],
        "impression": "No acute cardiopulmonary abnormality.",
    },
    {
        "cardiac_size": "enlarged",
        "pulmonary_findings": [
            "Bilateral perihilar haziness consistent with pulmonary edema",
            "Kerley B lines at the lung bases",
        ],
        "pleural_findings": ["Small bilateral pleural effusions"],
        "bone_findings": ["No acute fracture"],
        "impression": "Cardiomegaly with pulmonary edema and small bilateral effusions, "
        "suggestive of congestive heart failure.",
    },
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["Right lower lobe consolidation with air bronchograms"],
        "pleural_findings": ["Trace right pleural effusion"],
        "bone_findings": ["No acute osseous abnormality"],
        "impression": "Right lower lobe pneumonia.",
    },
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["Left apical pneumothorax with a visible pleural line"],
        "pleural_findings": ["Left pneumothorax, approximately 2 cm at the apex"],
        "bone_findings": ["No rib fractures seen"],
        "impression": "Small left apical pneumothorax.",
    },
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["2 cm spiculated nodule in the right upper lobe"],
        "pleural_findings": ["No pleural effusion"],
        "bone_findings": ["No lytic or sclerotic lesions"],
        "impression": "Spiculated right upper lobe nodule; CT chest recommended.",
    },
    {
        "cardiac_size": "enlarged",
        "pulmonary_findings": ["Lungs are clear"],
        "pleural_findings": ["No pleural effusion"],
        "bone_findings": ["Median sternotomy wires intact", "Degenerative changes of the spine"],
        "impression": "Cardiomegaly without acute pulmonary disease; post-sternotomy changes.",
    },
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["Hyperinflated lungs with flattened hemidiaphragms"],
        "pleural_findings": ["No pleural effusion", "No pneumothorax"],
        "bone_findings": ["No acute osseous abnormality"],
        "impression": "Findings consistent with chronic obstructive pulmonary disease.",
    },
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["Left lower lobe atelectasis"],
        "pleural_findings": ["Moderate left pleural effusion with meniscus sign"],
        "bone_findings": ["No acute fracture"],
        "impression": "Moderate left pleural effusion with adjacent atelectasis.",
    },
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["No consolidation"],
        "pleural_findings": ["No pleural effusion"],
        "bone_findings": ["Displaced fracture of the right 6th rib laterally"],
        "impression": "Acute right 6th rib fracture without pneumothorax.",
    },
    {
        "cardiac_size": "normal",
        "pulmonary_findings": [
            "Multiple bilateral pulmonary nodules of varying sizes",
            "Largest nodule 3 cm in the left lower zone",
        ],
        "pleural_findings": ["No pleural effusion"],
        "bone_findings": ["Lytic lesion in the left 4th rib"],
        "impression": "Multiple pulmonary nodules and a lytic rib lesion, concerning for "
        "metastatic disease.",
    },
    {
        "cardiac_size": "normal",
        "pulmonary_findings": ["Endotracheal tube tip 4 cm above the carina", "Lungs clear"],
        "pleural_findings": ["No pneumothorax"],
        "bone_findings": [],
        "impression": "Lines and tubes in satisfactory position; no acute abnormality.",
    },
    {
        "cardiac_size": "enlarged",
        "pulmonary_findings": [
            "Upper lobe venous diversion",
            "Patchy airspace opacities bilaterally",
        ],
        "pleural_findings": ["Right pleural effusion", "Blunting of the left costophrenic angle"],
        "bone_findings": ["Osteopenia"],
        "impression": "Cardiomegaly with pulmonary venous congestion and bilateral effusions.",
    },
]

CT: list[dict[str, Any]] = [
    {
        "body_region": "chest",
        "contrast_enhanced": True,
        "findings": [
            {
                "location": "right main pulmonary artery",
                "description": "Filling defect consistent with pulmonary embolism",
            }
        ],
        "incidental_findings": ["Small hiatal hernia"],
        "impression": "Acute right pulmonary embolism.",
    },
    {
        "body_region": "head",
        "contrast_enhanced": False,
        "findings": [
            {
                "location": "left MCA territory",
                "description": "Hypodensity with loss of grey-white differentiation",
            }
        ],
        "incidental_findings": [],
        "impression": "Acute left MCA territory infarct.",
    },
    {
        "body_region": "head",
        "contrast_enhanced": False,
        "findings": [
            {
                "location": "right frontal convexity",
                "description": "Crescentic hyperdense extra-axial collection, 8 mm thick",
            },
            {"location": "midline", "description": "3 mm leftward midline shift"},
        ],
        "incidental_findings": ["Mild chronic small vessel ischaemic changes"],
        "impression": "Acute right subdural haematoma with mild mass effect.",
    },
    {
        "body_region": "abdomen",
        "contrast_enhanced": True,
        "findings": [
            {
                "location": "right lower quadrant",
                "description": "Dilated 12 mm appendix with periappendiceal fat stranding",
            }
        ],
        "incidental_findings": ["Simple left renal cyst"],
        "impression": "Acute appendicitis without perforation.",
    },
    {
        "body_region": "abdomen",
        "contrast_enhanced": True,
        "findings": [
            {
                "location": "liver segment VII",
                "description": "3 cm hypodense lesion with peripheral nodular enhancement",
            }
        ],
        "incidental_findings": ["Cholelithiasis"],
        "impression": "Liver lesion most likely a haemangioma.",
    },
    {
        "body_region": "chest",
        "contrast_enhanced": False,
        "findings": [
            {
                "location": "right upper lobe",
                "description": "Solid nodule measuring 9 mm with smooth margins",
            }
        ],
        "incidental_findings": ["Coronary artery calcification", "Thyroid nodule"],
        "impression": "Indeterminate 9 mm right upper lobe nodule.",
    },
    {
        "body_region": "pelvis",
        "contrast_enhanced": True,
        "findings": [
            {
                "location": "sigmoid colon",
                "description": "Wall thickening with pericolic fat stranding and diverticula",
            }
        ],
        "incidental_findings": [],
        "impression": "Acute uncomplicated sigmoid diverticulitis.",
    },
    {
        "body_region": "chest",
        "contrast_enhanced": True,
        "findings": [],
        "incidental_findings": ["Small sliding hiatal hernia"],
        "impression": "No acute abnormality on this slice.",
    },
    {
        "body_region": "abdomen",
        "contrast_enhanced": False,
        "findings": [
            {
                "location": "left ureterovesical junction",
                "description": "4 mm calculus with mild upstream hydroureter",
            }
        ],
        "incidental_findings": ["Atherosclerotic calcification of the aorta"],
        "impression": "Obstructing left distal ureteric stone.",
    },
    {
        "body_region": "spine",
        "contrast_enhanced": False,
        "findings": [
            {
                "location": "L1 vertebral body",
                "description": "Compression fracture with approximately 30% height loss",
            }
        ],
        "incidental_findings": ["Diffuse osteopenia"],
        "impression": "L1 compression fracture of indeterminate age.",
    },
    {
        "body_region": "chest",
        "contrast_enhanced": False,
        "findings": [
            {
                "location": "both lungs",
                "description": "Bilateral peripheral ground-glass opacities",
            },
            {"location": "right lower lobe", "description": "Subsegmental consolidation"},
        ],
        "incidental_findings": [],
        "impression": "Bilateral ground-glass opacities, consistent with viral pneumonia.",
    },
    {
        "body_region": "abdomen",
        "contrast_enhanced": True,
        "findings": [
            {
                "location": "pancreatic head",
                "description": "Hypoenhancing 2.5 cm mass with upstream duct dilatation",
            }
        ],
        "incidental_findings": ["Splenule"],
        "impression": "Pancreatic head mass suspicious for adenocarcinoma.",
    },
]

DERM: list[dict[str, Any]] = [
    {
        "lesion_description": "Asymmetric pigmented macule with irregular borders",
        "features": {
            "asymmetry": True,
            "border": "irregular",
            "colour": "variegated brown, black and blue-grey",
            "diameter_mm": 8,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Melanoma", "Dysplastic naevus"],
        "concern_level": "high",
        "recommendation": "Urgent referral for dermatology review and excision biopsy.",
    },
    {
        "lesion_description": "Small round uniformly brown papule",
        "features": {
            "asymmetry": False,
            "border": "regular",
            "colour": "uniform light brown",
            "diameter_mm": 4,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Benign compound naevus"],
        "concern_level": "low",
        "recommendation": "Routine monitoring; photograph for comparison.",
    },
    {
        "lesion_description": "Pearly papule with rolled border and arborising telangiectasia",
        "features": {
            "asymmetry": False,
            "border": "regular",
            "colour": "pink, translucent",
            "diameter_mm": 6,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Nodular basal cell carcinoma", "Intradermal naevus"],
        "concern_level": "moderate",
        "recommendation": "Refer for dermatology assessment and biopsy.",
    },
    {
        "lesion_description": "Waxy stuck-on plaque with a verrucous surface",
        "features": {
            "asymmetry": False,
            "border": "regular",
            "colour": "tan to dark brown",
            "diameter_mm": 12,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Seborrhoeic keratosis", "Pigmented actinic keratosis"],
        "concern_level": "low",
        "recommendation": "No treatment needed unless symptomatic.",
    },
    {
        "lesion_description": "Keratotic nodule with central crust on sun-damaged skin",
        "features": {
            "asymmetry": True,
            "border": "irregular",
            "colour": "pink with yellow crust",
            "diameter_mm": 10,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Squamous cell carcinoma", "Keratoacanthoma"],
        "concern_level": "high",
        "recommendation": "Urgent referral for excision.",
    },
    {
        "lesion_description": "Firm dome-shaped papule with a central dimple",
        "features": {
            "asymmetry": False,
            "border": "regular",
            "colour": "brown centre with a paler rim",
            "diameter_mm": 5,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Dermatofibroma"],
        "concern_level": "low",
        "recommendation": "Reassurance; no intervention required.",
    },
    {
        "lesion_description": "Irregular brown-black patch on the sole with parallel ridge pattern",
        "features": {
            "asymmetry": True,
            "border": "irregular",
            "colour": "brown and black",
            "diameter_mm": 9,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Acral lentiginous melanoma", "Acral naevus"],
        "concern_level": "high",
        "recommendation": "Urgent dermatology referral for dermoscopy and biopsy.",
    },
    {
        "lesion_description": "Bright red dome-shaped papule",
        "features": {
            "asymmetry": False,
            "border": "regular",
            "colour": "cherry red",
            "diameter_mm": 3,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Cherry angioma"],
        "concern_level": "low",
        "recommendation": "No treatment needed.",
    },
    {
        "lesion_description": "Scaly erythematous patch on the forehead",
        "features": {
            "asymmetry": True,
            "border": "irregular",
            "colour": "pink to red",
            "diameter_mm": 7,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Actinic keratosis", "Superficial basal cell carcinoma"],
        "concern_level": "moderate",
        "recommendation": "Consider cryotherapy or topical therapy; review if persistent.",
    },
    {
        "lesion_description": "Rapidly growing friable red nodule that bleeds easily",
        "features": {
            "asymmetry": False,
            "border": "regular",
            "colour": "bright red",
            "diameter_mm": 8.5,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Pyogenic granuloma", "Amelanotic melanoma"],
        "concern_level": "moderate",
        "recommendation": "Excision with histology to exclude amelanotic melanoma.",
    },
    {
        "lesion_description": "Pigmented lesion with a blue-white veil and atypical network",
        "features": {
            "asymmetry": True,
            "border": "irregular",
            "colour": "dark brown, black and blue-white",
            "diameter_mm": 11,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Invasive melanoma", "Blue naevus"],
        "concern_level": "high",
        "recommendation": "Urgent two-week-wait referral.",
    },
    {
        "lesion_description": "Flat uniformly tan macule on the cheek",
        "features": {
            "asymmetry": False,
            "border": "regular",
            "colour": "uniform tan",
            "diameter_mm": 5,
            "evolution": "not assessable from a single image",
        },
        "differential_diagnosis": ["Solar lentigo", "Ephelis"],
        "concern_level": "low",
        "recommendation": "Sun protection; no further action.",
    },
]

GENERAL: list[dict[str, Any]] = [
    {
        "modality": "Chest X-ray, PA view",
        "findings": ["Clear lungs", "Normal heart size"],
        "key_abnormalities": [],
        "normal_findings": ["Normal mediastinal contour", "No pleural effusion"],
        "clinical_impression": "Normal chest radiograph.",
    },
    {
        "modality": "Ultrasound of the right upper quadrant",
        "findings": [
            "Multiple echogenic foci with posterior acoustic shadowing in the gallbladder"
        ],
        "key_abnormalities": ["Cholelithiasis"],
        "normal_findings": ["No gallbladder wall thickening", "Common bile duct not dilated"],
        "clinical_impression": "Cholelithiasis without sonographic evidence of cholecystitis.",
    },
    {
        "modality": "Radiograph of the left wrist",
        "findings": ["Transverse fracture of the distal radius with dorsal angulation"],
        "key_abnormalities": ["Distal radius fracture"],
        "normal_findings": ["Carpal bones intact"],
        "clinical_impression": "Colles-type fracture of the distal radius.",
    },
    {
        "modality": "Mammogram, mediolateral oblique view",
        "findings": ["Irregular spiculated mass in the upper outer quadrant"],
        "key_abnormalities": ["Spiculated mass"],
        "normal_findings": ["No suspicious calcifications elsewhere"],
        "clinical_impression": "Suspicious mass, BI-RADS 4 or higher; biopsy recommended.",
    },
    {
        "modality": "Abdominal radiograph, supine",
        "findings": ["Multiple dilated small bowel loops", "Paucity of gas in the colon"],
        "key_abnormalities": ["Dilated small bowel loops"],
        "normal_findings": ["No free intraperitoneal air visible"],
        "clinical_impression": "Findings suggestive of small bowel obstruction.",
    },
    {
        "modality": "Radiograph of the right knee",
        "findings": ["Medial joint space narrowing", "Marginal osteophytes"],
        "key_abnormalities": ["Osteoarthritis"],
        "normal_findings": ["No fracture", "No joint effusion"],
        "clinical_impression": "Moderate medial compartment osteoarthritis.",
    },
    {
        "modality": "Ultrasound of the thyroid",
        "findings": ["Solid hypoechoic nodule with microcalcifications in the right lobe"],
        "key_abnormalities": ["Suspicious thyroid nodule"],
        "normal_findings": ["Left lobe normal"],
        "clinical_impression": "TI-RADS 5 nodule; fine-needle aspiration advised.",
    },
    {
        "modality": "Dental panoramic radiograph",
        "findings": ["Periapical radiolucency at the lower left first molar"],
        "key_abnormalities": ["Periapical lesion"],
        "normal_findings": ["Mandibular cortex intact"],
        "clinical_impression": "Periapical periodontitis of tooth 36.",
    },
    {
        "modality": "Radiograph of the pelvis",
        "findings": ["Displaced subcapital fracture of the left femoral neck"],
        "key_abnormalities": ["Left femoral neck fracture"],
        "normal_findings": ["Right hip normal"],
        "clinical_impression": "Displaced left intracapsular hip fracture.",
    },
    {
        "modality": "Echocardiogram, apical four-chamber view",
        "findings": ["Dilated left ventricle", "Globally reduced wall motion"],
        "key_abnormalities": ["Left ventricular dilatation", "Reduced systolic function"],
        "normal_findings": ["No pericardial effusion"],
        "clinical_impression": "Dilated cardiomyopathy pattern.",
    },
    {
        "modality": "Lateral cervical spine radiograph",
        "findings": ["Normal alignment", "Disc space narrowing at C5-C6"],
        "key_abnormalities": ["Degenerative disc disease at C5-C6"],
        "normal_findings": ["No prevertebral soft tissue swelling", "No fracture"],
        "clinical_impression": "Degenerative changes without acute injury.",
    },
    {
        "modality": "Ultrasound of the kidneys",
        "findings": ["Moderate right hydronephrosis"],
        "key_abnormalities": ["Right hydronephrosis"],
        "normal_findings": ["Left kidney normal in size and echotexture"],
        "clinical_impression": "Moderate right hydronephrosis; assess for distal obstruction.",
    },
]

FUNDUS: list[dict[str, Any]] = [
    {
        "image_gradable": True,
        "optic_disc": "Pink disc with a cup-to-disc ratio of 0.3 and sharp margins",
        "macula": "Normal foveal reflex, no exudates",
        "vessels": "Normal calibre and course",
        "retinal_findings": [],
        "diabetic_retinopathy_grade": "none",
        "impression": "Normal fundus.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Normal, cup-to-disc ratio 0.4",
        "macula": "No exudates or haemorrhage",
        "vessels": "Normal",
        "retinal_findings": ["Scattered microaneurysms"],
        "diabetic_retinopathy_grade": "mild NPDR",
        "impression": "Mild non-proliferative diabetic retinopathy.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Normal",
        "macula": "Hard exudates within one disc diameter of the fovea",
        "vessels": "Venous beading in one quadrant",
        "retinal_findings": ["Dot and blot haemorrhages", "Hard exudates", "Microaneurysms"],
        "diabetic_retinopathy_grade": "moderate NPDR",
        "impression": "Moderate NPDR with possible diabetic macular oedema.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Neovascularisation at the disc",
        "macula": "Scattered exudates",
        "vessels": "Neovascularisation elsewhere along the superotemporal arcade",
        "retinal_findings": ["Preretinal haemorrhage", "Cotton-wool spots"],
        "diabetic_retinopathy_grade": "PDR",
        "impression": "Proliferative diabetic retinopathy requiring urgent referral.",
    },
    {
        "image_gradable": False,
        "optic_disc": "Not clearly visible due to media opacity",
        "macula": "Not assessable",
        "vessels": "Only major vessels faintly visible",
        "retinal_findings": [],
        "diabetic_retinopathy_grade": "ungradable",
        "impression": "Ungradable image; repeat photography or clinical examination advised.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Enlarged cup with a cup-to-disc ratio of 0.8 and inferior rim thinning",
        "macula": "Normal",
        "vessels": "Bayoneting of vessels at the disc margin",
        "retinal_findings": [],
        "diabetic_retinopathy_grade": "none",
        "impression": "Glaucomatous optic disc cupping suspected.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Normal",
        "macula": "Multiple soft drusen",
        "vessels": "Normal",
        "retinal_findings": ["Macular drusen", "Retinal pigment epithelium changes"],
        "diabetic_retinopathy_grade": "none",
        "impression": "Intermediate age-related macular degeneration.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Swollen with blurred margins",
        "macula": "Macular star of exudates",
        "vessels": "Arteriolar narrowing and arteriovenous nicking",
        "retinal_findings": ["Flame haemorrhages", "Cotton-wool spots"],
        "diabetic_retinopathy_grade": "none",
        "impression": "Severe hypertensive retinopathy with disc swelling.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Normal",
        "macula": "No oedema",
        "vessels": "Venous beading in two quadrants",
        "retinal_findings": ["Intraretinal haemorrhages in all four quadrants", "IRMA"],
        "diabetic_retinopathy_grade": "severe NPDR",
        "impression": "Severe non-proliferative diabetic retinopathy.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Pale",
        "macula": "Cherry-red spot",
        "vessels": "Attenuated arterioles with segmentation of the blood column",
        "retinal_findings": ["Retinal whitening of the posterior pole"],
        "diabetic_retinopathy_grade": "none",
        "impression": "Central retinal artery occlusion.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Tilted disc with peripapillary atrophy",
        "macula": "Normal",
        "vessels": "Normal",
        "retinal_findings": ["Tessellated fundus"],
        "diabetic_retinopathy_grade": "none",
        "impression": "Myopic fundus without retinopathy.",
    },
    {
        "image_gradable": True,
        "optic_disc": "Normal",
        "macula": "Normal",
        "vessels": "Dilated tortuous veins",
        "retinal_findings": ["Widespread retinal haemorrhages in all quadrants"],
        "diabetic_retinopathy_grade": "ungradable",
        "impression": "Features of central retinal vein occlusion; DR grading not applicable.",
    },
]

BASES: dict[str, list[dict[str, Any]]] = {
    "cxr": CXR,
    "ct": CT,
    "derm": DERM,
    "general": GENERAL,
    "fundus": FUNDUS,
}
